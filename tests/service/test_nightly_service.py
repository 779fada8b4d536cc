"""The service's nightly scheduler against a real kill: `codealign serve` in a subprocess, a
night of the tiny seeded policy in its child process, SIGKILL of the service mid-night, restart.

The night is first interrupted by `codealign nightly` killing itself (SIGKILL, test hook) in
round 0; the service resumes an interrupted night when it starts, so no cron time has to come.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from codealign.runs import RunStatus, read_state
from seeded_policy import ROOT, cli_env, comparable_rounds, seeded_policy, write_recipe
from tests.service.conftest import free_port

DEADLINE_S = 900        # a failure guard, not a measurement


def wait_for(predicate, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


class Service:
    """`codealign serve` in its own process (so that SIGKILL really kills the service)."""

    def __init__(self, home: Path, configs: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = cli_env() | {"CODEALIGN_CONFIGS_DIR": str(configs), "CODEALIGN_NIGHTLY_RECIPE": "lin",
                           "CODEALIGN_NIGHTLY_CRON": "0 2 * * *", "PYTHONPATH": str(ROOT)}
        self.log = open(home.parent / f"service-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codealign", "serve", "--port", str(self.port), "--home", str(home)],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._up, "the service to start")

    def _up(self) -> bool:
        assert self.process.poll() is None, f"the service exited ({self.process.returncode})"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)

    def post(self, path: str, body: dict) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(120)
        self.log.close()


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_service_killed_mid_night_resumes_it_once_on_restart(tmp_path, policy):
    configs, home = tmp_path / "configs", tmp_path / "home"
    configs.mkdir()
    recipe = write_recipe(configs, policy, rounds=1, name="lin")
    runs = home / "runs"

    # The reference: the same night, never interrupted, in another runs directory.
    reference = subprocess.run([sys.executable, "-m", "codealign", "nightly", "--config", str(recipe),
                                "--run-dir", str(tmp_path / "reference")],
                               capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=DEADLINE_S)
    assert reference.returncode == 0, reference.stderr[-3000:]

    first = subprocess.run([sys.executable, "-m", "codealign", "nightly", "--config", str(recipe),
                            "--run-dir", str(runs)], capture_output=True, text=True,
                           env=cli_env("round-0/evaluate"), cwd=ROOT, timeout=DEADLINE_S)
    assert first.returncode == -9
    night = runs / "lin-night-0001"
    assert read_state(night).status is RunStatus.INTERRUPTED

    service = Service(home, configs)
    try:
        assert service.get("/v1/schedule").json()["runs_here"] is True
        # The service resumed the night on start; wait until it is into round 1.
        wait_for(lambda: read_state(night).status is RunStatus.RUNNING and (read_state(night).round or 0) >= 1,
                 "the resumed night to reach round 1")
        busy = service.post("/v1/runs", {"config": "lin"})                # a manual run meanwhile
        assert busy.status_code == 409, busy.text
        assert busy.headers["content-type"].startswith("application/problem+json")
        service.stop(signal.SIGKILL)
        # The night's process dies with the service: the night reads interrupted.
        wait_for(lambda: read_state(night).status is RunStatus.INTERRUPTED, "the night to be interrupted")
    finally:
        service.stop(signal.SIGKILL)

    again = Service(home, configs)
    try:
        nights = wait_for(lambda: [n for n in again.get("/v1/nights").json()["nights"]
                                   if n["status"] == "succeeded"], "the night to finish")
        assert [n["night"] for n in again.get("/v1/nights").json()["nights"]] == [1]
        assert nights[0]["resumed"] == 2 and nights[0]["rounds"] == 1
        assert sorted(p.name for p in runs.glob("lin-night-*")) == ["lin-night-0001"]
        assert comparable_rounds(night) == comparable_rounds(tmp_path / "reference" / "lin-night-0001")
        schedule = again.get("/v1/schedule").json()
        assert schedule["last_run"]["night"] == 1 and schedule["last_run"]["status"] == "succeeded"
        listed = {r["name"] for r in again.get("/v1/runs").json()["items"]}
        assert "lin-night-0001" in listed
    finally:
        again.stop()
