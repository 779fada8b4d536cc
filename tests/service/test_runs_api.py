"""Runs through the API on a tiny seeded policy: start -> events (SSE) -> cancel -> resume ->
rounds, pairs, per-task results, pass-rate metrics; the global lock (409); a crashed worker
leaves its run `interrupted`, resumable."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from seeded_policy import seeded_policy, write_recipe
from tests.service.conftest import LiveService, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


def wait_for(predicate, timeout: float = 300.0, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)


def test_run_lifecycle_through_the_api(tmp_path, policy, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")      # the workers' torch: one thread on 2 cores
    configs = tmp_path / "configs"
    configs.mkdir()
    write_recipe(configs, policy, rounds=1, name="tiny")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", configs_dir=configs)
    with LiveService(settings) as service, service.client() as c:
        started = c.http.post("/v1/runs", json={"config": "tiny", "name": "r1"})
        assert started.status_code == 202, started.text
        assert started.headers["location"] == "/v1/runs/r1"
        busy = c.http.post("/v1/runs", json={"config": "tiny", "name": "r2"})
        assert busy.status_code == 409 and "run lock" in busy.json()["detail"]
        assert c.http.post("/v1/runs", json={"config": "nope"}).status_code == 404
        bad = c.http.post("/v1/runs", json={"config": "tiny", "overrides": {"run_dir": "/"}})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "body.overrides.run_dir"

        # Events stream while the run works; cancel once a stage has started.
        events: list[dict] = []
        reader = threading.Thread(target=lambda: events.extend(c.events("r1")))
        reader.start()
        wait_for(lambda: any(e["type"] == "stage_started" for e in events))
        assert c.cancel_run("r1")["name"] == "r1"
        reader.join(300)
        assert not reader.is_alive()                      # the stream ends with the run
        assert c.wait_run("r1")["status"] == "canceled"
        assert events[-1]["type"] == "run_canceled"
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert c.get_run("r1")["status"] == "canceled"

        # Resume: the run finishes; nothing seen twice when the stream restarts after a seq.
        wait_for(lambda: not service.app.state.workers.active())
        resumed = c.resume_run("r1")
        assert resumed["name"] == "r1"
        assert c.wait_run("r1", timeout=900)["status"] == "succeeded"
        later = list(c.events("r1", after=len(events)))
        assert later[0]["seq"] == len(events) + 1 and later[-1]["type"] == "run_finished"
        assert c.get_run("r1")["resumed"] >= 1

        rounds = c.rounds("r1")
        assert [r["round"] for r in rounds] == [0, 1]
        one = c.round("r1", 1)
        assert one["record"]["round"] == 1
        if rounds[1]["status"] != "skipped":
            assert one["train_metrics"] and "loss" in one["train_metrics"][0]
        assert c.http.get("/v1/runs/r1/rounds/7").status_code == 404

        pairs, after = [], None
        while True:
            page = c.pairs("r1", 1, limit=3, **({"after": after} if after is not None else {}))
            pairs += page["items"]
            if not page["has_more"]:
                break
            after = page["next"]
        assert [p["index"] for p in pairs] == list(range(len(pairs)))
        results = c.task_results("r1", 1)
        assert {r["side"] for r in results} <= {"train", "heldout"} and results

        rates = c.pass_rates("r1", round=1, base=0)
        assert rates["k"] == 4 and rates["tasks"]
        assert rates["overall"]["delta_pass_at_1"]["tasks"] == len(
            [t for t in rates["tasks"] if t["delta_pass_at_1"] is not None])
        csv = c.http.get("/v1/metrics/pass-rates", params={"run": "r1", "round": 1},
                         headers={"Accept": "text/csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("task_id,side,base_samples")
        assert len(csv.text.splitlines()) == len(rates["tasks"]) + 1

        # A worker that dies mid-run leaves the run interrupted and the lock free.
        wait_for(lambda: not service.app.state.workers.active())   # the last one has exited
        c.resume_run("r1", rounds=2)
        worker = wait_for(lambda: service.app.state.workers.active().get("r1"))
        wait_for(lambda: c.get_run("r1")["status"] == "running")
        os.killpg(worker.process.pid, signal.SIGKILL)
        wait_for(lambda: not service.app.state.workers.active())
        assert c.get_run("r1")["status"] == "interrupted"
        assert [r["name"] for r in c.list_runs()] == ["r1"]
        again = c.http.post("/v1/runs/r1/resume", json={"rounds": 2})
        assert again.status_code == 202
        c.cancel_run("r1")
        assert c.wait_run("r1", timeout=600)["status"] in ("canceled", "succeeded")


def test_sigterm_stops_the_service_and_leaves_the_run_resumable(tmp_path, policy):
    """`codealign serve` on SIGTERM stops its workers; the run reads `interrupted` and the
    run lock is free for the next start."""
    import subprocess
    import sys

    import httpx

    from codealign.runs import read_state
    from codealign.runs.lock import RunLock
    from tests.service.conftest import ROOT, free_port

    configs = tmp_path / "configs"
    configs.mkdir()
    write_recipe(configs, policy, rounds=1, name="tiny")
    port, home = free_port(), tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "CODEALIGN_CONFIGS_DIR": str(configs), "CODEALIGN_SHUTDOWN_GRACE_S": "30"}
    server = subprocess.Popen([sys.executable, "-m", "codealign", "serve", "--port", str(port), "--home", str(home)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return httpx.get(f"{url}/healthz").status_code == 200
            except httpx.TransportError:
                return server.poll() is not None
        wait_for(up, timeout=120)
        assert server.poll() is None, server.stderr.read().decode()[-3000:]
        started = httpx.post(f"{url}/v1/runs", json={"config": "tiny", "name": "t1"}, timeout=120)
        assert started.status_code == 202, started.text
        pid = started.json()["holder"]["pid"]
        server.send_signal(signal.SIGTERM)
        server.wait(120)
        assert server.returncode in (0, -signal.SIGTERM), server.stderr.read().decode()[-2000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=60)
    state = read_state(home / "runs" / "t1")
    assert state.status.value == "interrupted"
    assert not RunLock(home / "runs").is_held()
