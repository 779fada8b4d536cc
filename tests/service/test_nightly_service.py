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

import pytest

from codealign.runs import RunStatus, read_state
from seeded_policy import ROOT, cli_env, comparable_rounds, seeded_policy, write_recipe
from tests.service.conftest import ServeProcess

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


def Service(home: Path, configs: Path) -> ServeProcess:
    """`codealign serve` of the lineage's recipe, scheduling nights (its default cron)."""
    return ServeProcess(home, cli_env() | {"CODEALIGN_CONFIGS_DIR": str(configs), "CODEALIGN_NIGHTLY_RECIPE": "lin",
                                           "CODEALIGN_NIGHTLY_CRON": "0 2 * * *"}, deadline_s=DEADLINE_S)


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
