"""`codealign nightly`: its exit statuses, and real nights of the tiny seeded policy.

0 started, 5 resumed, 3 skipped (the run lock is held), 1 failed, 2 bad input (4 canceled
is the run engine's, tested there). The slow tests run nights of the tiny Llama fitted to the
four tasks (hf backend, one round per night), the way cron or a CronJob runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codealign.runs import RunReader, RunStatus, read_state
from codealign.runs.lock import RunLock
from seeded_policy import ROOT, cli_env, comparable_rounds, seeded_policy, write_recipe
from test_nightly import SUBMITTED, lineage_recipe, task_records, write_task_file


def nightly(recipe: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codealign", "nightly", "--config", str(recipe), *args],
                          capture_output=True, text=True, env=cli_env(kill_at), cwd=ROOT, timeout=900)


def fake_model(tmp_path: Path) -> Path:
    model = tmp_path / "not-a-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def test_exit_statuses_bad_input_skipped_failed(tmp_path):
    recipe = write_recipe(tmp_path, fake_model(tmp_path), name="lin")
    missing = nightly(tmp_path / "missing.yaml")
    assert missing.returncode == 2 and "cannot read config" in missing.stderr
    bad = nightly(recipe, "--overrides", "[1]")
    assert bad.returncode == 2 and "overrides" in bad.stderr

    with RunLock(tmp_path / "runs"):            # a run (or night) is going: skip, start nothing
        held = nightly(recipe)
    assert held.returncode == 3 and "skipped" in held.stderr, held.stderr
    assert not list((tmp_path / "runs").glob("lin-night-*"))

    failed = nightly(recipe)                     # the model cannot be loaded: the night fails
    assert failed.returncode == 1, failed.stderr
    night = tmp_path / "runs" / "lin-night-0001"
    assert read_state(night).status is RunStatus.FAILED
    assert json.loads((night / "night.json").read_text())["status"] == "failed"


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_three_nights_and_a_killed_night_resumed(tmp_path, policy):
    # The configured task file grows each night (so no night is "nothing new"): three of the
    # four tasks, then the fourth, then a fifth the policy never saw.
    (tmp_path / "a").mkdir()
    recipe, _ = lineage_recipe(tmp_path / "a", policy)
    records = task_records(tmp_path / "a")
    configured = tmp_path / "a" / "configured.jsonl"
    runs = tmp_path / "a" / "runs"
    for k, added in ((1, None), (2, SUBMITTED), (3, "triple")):
        if added:
            write_task_file(configured, [*map(json.loads, configured.read_text().splitlines()), records[added]])
        done = nightly(recipe)
        assert done.returncode == 0, done.stderr[-3000:]
        night = runs / f"lin-night-{k:04d}"
        assert read_state(night).status is RunStatus.SUCCEEDED
        assert json.loads((night / "night.json").read_text())["tasks_added"][-1:] == ([added] if added else ["neg"])
        if k == 1:
            assert not (night / "lineage.json").exists()
            continue
        # Night k starts from night k-1's last promoted adapter (or what night k-1 started from).
        previous = runs / f"lin-night-{k - 1:04d}"
        promoted = [r for r in RunReader(previous).rounds() if r.status == "promoted"]
        lineage = json.loads((night / "lineage.json").read_text())
        assert lineage["parent_run"] == str(previous.resolve())
        if promoted:
            expected = f"{previous.name}/round-{promoted[-1].round}"
        elif (previous / "lineage.json").exists():
            expected = json.loads((previous / "lineage.json").read_text())["policy"]
        else:
            expected = "base"
        assert lineage["policy"] == expected
        assert {s["policy"] for s in RunReader(night).samples(1, side="train")} == {expected}

    # A night killed (SIGKILL) mid-training, then `codealign nightly` again: the night is
    # resumed (exit 5) and ends with the same rounds as the uninterrupted night 1.
    (tmp_path / "b").mkdir()
    killed_recipe, _ = lineage_recipe(tmp_path / "b", policy)
    killed = nightly(killed_recipe, kill_at="round-1/train")
    assert killed.returncode == -9
    night = tmp_path / "b" / "runs" / "lin-night-0001"
    assert read_state(night).status is RunStatus.INTERRUPTED
    resumed = nightly(killed_recipe)
    assert resumed.returncode == 5, resumed.stderr[-3000:]
    assert comparable_rounds(night) == comparable_rounds(runs / "lin-night-0001")
    assert read_state(night).resumed == 1
    assert sorted(p.name for p in night.parent.glob("lin-night-*")) == ["lin-night-0001"]
