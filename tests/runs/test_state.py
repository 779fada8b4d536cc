"""Run state, lease, events, creation checks and the split — no model: runs are created, not executed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from codealign.config import parse_config
from codealign.errors import ConfigError, RunBusy
from codealign.runs import (RunReader, RunStatus, create_run, list_runs, read_events, read_state,
                            request_cancel)
from codealign.runs.events import EventLog, Note, Progress, StageStarted
from codealign.runs.state import CancelToken, RunLease
from codealign.tasks import Task

ROOT = Path(__file__).resolve().parents[2]


def make_tasks(ids) -> list[Task]:
    return [Task(task_id=t, prompt=f"def f_{i}(x):", entry_point=f"f_{i}", tests=f"assert f_{i}(1) == 1\n")
            for i, t in enumerate(ids)]


def make_config(run_dir: Path, name: str = "r", **top) -> object:
    data = {"name": name, "model": "org/tiny", "backend": "hf", "tasks": "bank", "run_dir": str(run_dir),
            "evaluation": {"heldout_fraction": 0.25, "split_seed": 0, "n_samples": 2, "k": [1]}, **top}
    return parse_config(data, "<test>", check=False)


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_created_run_is_queued_with_snapshot_split_and_config(tmp_path):
    tasks = make_tasks([f"t{i}" for i in range(12)])
    run = create_run(make_config(tmp_path), tasks=tasks)
    state = read_state(run)
    assert state.status is RunStatus.QUEUED and not state.status.terminal and state.path == run
    reader = RunReader(run)
    assert [t.task_id for t in reader.tasks()] == [t.task_id for t in tasks]
    split = reader.split()
    assert sorted(split["train"] + split["heldout"]) == sorted(t.task_id for t in tasks)
    assert reader.config()["name"] == "r" and reader.rounds() == []
    assert [s.name for s in list_runs(tmp_path)] == ["r"]


def test_a_different_config_is_refused_before_anything_is_written(tmp_path):
    run = create_run(make_config(tmp_path), tasks=make_tasks(["a", "b", "c", "d"]))
    before = snapshot(run)
    with pytest.raises(ConfigError, match="changed: seed"):
        create_run(make_config(tmp_path, seed=7), tasks=make_tasks(["a", "b", "c", "d"]))
    with pytest.raises(ConfigError, match="other tasks"):
        create_run(make_config(tmp_path), tasks=make_tasks(["a", "b", "c", "d", "e"]))
    assert snapshot(run) == before
    # The same config (more rounds) reopens the run and records the new round count only.
    create_run(make_config(tmp_path, rounds=5), tasks=make_tasks(["a", "b", "c", "d"]))
    assert json.loads((run / "config.json").read_text())["rounds"] == 5
    assert read_state(run).status is RunStatus.QUEUED


def test_adding_tasks_keeps_every_task_on_its_side(tmp_path):
    first = make_tasks([f"task-{i}" for i in range(40)])
    more = first + make_tasks([f"new-{i}" for i in range(60)])
    a = RunReader(create_run(make_config(tmp_path, name="a"), tasks=first)).split()
    b = RunReader(create_run(make_config(tmp_path, name="b"), tasks=more)).split()
    assert a["heldout"] and a["train"]
    assert set(a["heldout"]) <= set(b["heldout"]) and set(a["train"]) <= set(b["train"])


def test_a_child_run_keeps_its_parents_split(tmp_path):
    parent = create_run(make_config(tmp_path, name="parent"), tasks=make_tasks([f"t{i}" for i in range(30)]))
    # Another split rule in the child: tasks the parent had stay on their side anyway.
    child_config = make_config(tmp_path, name="child", evaluation={"heldout_fraction": 0.6, "split_seed": 3,
                                                                   "n_samples": 2, "k": [1]})
    child = create_run(child_config, tasks=make_tasks([f"t{i}" for i in range(30)] + ["x1", "x2", "x3"]),
                       parent_run="parent")
    p, c = RunReader(parent).split(), RunReader(child).split()
    assert set(p["heldout"]) <= set(c["heldout"]) and set(p["train"]) <= set(c["train"])
    lineage = json.loads((child / "lineage.json").read_text())
    assert lineage["parent_run"] == str(parent.resolve()) and lineage["adapter"] is None   # nothing promoted
    assert read_state(child).parent_run == str(parent.resolve())
    with pytest.raises(ConfigError, match="not found"):
        create_run(make_config(tmp_path, name="orphan"), tasks=make_tasks(["a", "b"]), parent_run="nope")
    assert not (tmp_path / "orphan").exists()
    with pytest.raises(ConfigError, match="same base model"):
        create_run(make_config(tmp_path, name="other", model="org/other"), tasks=make_tasks(["a", "b"]),
                   parent_run="parent")


def test_the_lease_is_exclusive_and_names_its_holder(tmp_path):
    run = create_run(make_config(tmp_path), tasks=make_tasks(["a", "b"]))
    with RunLease(run).acquire() as lease:
        lease.update(status=RunStatus.RUNNING)
        with pytest.raises(RunBusy, match=f"pid {os.getpid()}"):
            RunLease(run).acquire()
        with pytest.raises(RunBusy):
            create_run(make_config(tmp_path), tasks=make_tasks(["a", "b"]))
        assert read_state(run).status is RunStatus.RUNNING           # held: really running
        # Another process probing the state sees it running too, and cannot take the lease.
        probe = subprocess.run([sys.executable, "-c", "import sys; from codealign.runs import read_state, "
                                "execute_run; print(read_state(sys.argv[1]).status.value); "
                                "execute_run(sys.argv[1])", str(run)],
                               capture_output=True, text=True, cwd=ROOT)
        assert probe.stdout.strip() == "running" and "RunBusy" in probe.stderr
    # Nobody holds it now, but the file says running: the holder died.
    assert json.loads((run / "state.json").read_text())["status"] == "running"
    assert read_state(run).status is RunStatus.INTERRUPTED


def test_cancel_of_a_run_nobody_works_on_is_immediate(tmp_path):
    run = create_run(make_config(tmp_path), tasks=make_tasks(["a", "b"]))
    request_cancel(run)
    assert read_state(run).status is RunStatus.CANCELED
    assert [e["type"] for e in read_events(run)] == ["run_canceled"]
    assert not (run / "cancel.request").exists()


def test_cancel_of_a_held_run_writes_the_request_file(tmp_path):
    run = create_run(make_config(tmp_path), tasks=make_tasks(["a", "b"]))
    event = threading.Event()
    token = CancelToken(run, event)
    with RunLease(run).acquire():
        assert not token.requested()
        request_cancel(run)                       # from "another process": the lease is held
        assert (run / "cancel.request").exists() and token.requested() and event.is_set()
    stale = CancelToken(run)
    stale.clear_stale(before=os.stat(run / "cancel.request").st_mtime + 1)
    assert not (run / "cancel.request").exists()


def test_events_are_numbered_across_reopenings_and_a_torn_line_is_dropped(tmp_path):
    seen = []
    log = EventLog(tmp_path, [seen.append])
    log.emit(StageStarted(0, "evaluate"))
    log.emit(Progress(0, "evaluate", 1, 4, "sampling (base)"))
    with open(tmp_path / "events.jsonl", "a") as handle:
        handle.write('{"seq": 3, "time": "x", "ty')            # a writer killed mid-line
    assert [e["seq"] for e in read_events(tmp_path)] == [1, 2]
    again = EventLog(tmp_path)
    again.emit(Note("hello"))
    events = read_events(tmp_path)
    assert [(e["seq"], e["type"]) for e in events] == [(1, "stage_started"), (2, "progress"), (3, "note")]
    assert events[1] == {"seq": 2, "time": events[1]["time"], "type": "progress", "round": 0,
                         "stage": "evaluate", "done": 1, "total": 4, "label": "sampling (base)"}
    assert read_events(tmp_path, after_seq=2)[0]["text"] == "hello"
    assert seen == [StageStarted(0, "evaluate"), Progress(0, "evaluate", 1, 4, "sampling (base)")]


def test_cli_lists_shows_and_cancels_runs(tmp_path):
    create_run(make_config(tmp_path, name="one"), tasks=make_tasks(["a", "b"]))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "codealign", "runs", *args], capture_output=True,
                              text=True, cwd=ROOT, env=os.environ | {"COLUMNS": "200"})

    listed = cli("list", "--run-dir", str(tmp_path))
    assert listed.returncode == 0 and "one" in listed.stdout and "queued" in listed.stdout
    shown = cli("show", "one", "--run-dir", str(tmp_path))
    assert shown.returncode == 0 and "queued" in shown.stdout
    canceled = cli("cancel", str(tmp_path / "one"))
    assert canceled.returncode == 0 and "canceled" in canceled.stdout
    missing = cli("show", "nope", "--run-dir", str(tmp_path))
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_tasks_kept_out_of_training_are_on_neither_side_and_the_split_says_why(tmp_path):
    tasks = make_tasks([f"t{i}" for i in range(12)])
    plain = RunReader(create_run(make_config(tmp_path, name="plain"), tasks=tasks)).split()
    train, held = plain["train"][:2], plain["heldout"][0]
    keep_out = {train[0]: "near duplicate of held-out task X", train[1]: "near duplicate of Y",
                held: "near duplicate of Z"}
    split = RunReader(create_run(make_config(tmp_path, name="kept"), tasks=tasks, keep_out=keep_out)).split()
    assert split["kept_out"] == {train[0]: keep_out[train[0]], train[1]: keep_out[train[1]]}
    assert split["train"] == [t for t in plain["train"] if t not in train]      # never sampled
    assert split["heldout"] == plain["heldout"]                                 # a held-out one stays held out
    # A child run made with the same flags keeps them out too; without them they are back.
    child = RunReader(create_run(make_config(tmp_path, name="child"), tasks=tasks, keep_out=keep_out,
                                 parent_run=tmp_path / "kept")).split()
    assert not set(train) & set(child["train"]) and child["kept_out"] == split["kept_out"]
    with pytest.raises(ConfigError, match="no task is left to train on"):
        create_run(make_config(tmp_path, name="none"), tasks=tasks,
                   keep_out={t: "flagged" for t in plain["train"]})
