"""The run engine on a real tiny policy: busy lease, SIGKILL and resume, cancel in every stage
and resume, lineage, and the reader against rounds.jsonl.

Every interrupted run is compared with one uninterrupted run of the same recipe
(`reference`, made once per session through the CLI): same seeds, so the same rounds.jsonl.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codealign.config import load_config
from codealign.records import Lineage, last_promoted
from codealign.runs import (RunReader, RunStatus, StageStarted, create_run, execute_run, read_events,
                            read_state, request_cancel)
from seeded_policy import ROOT, cli_env, comparable_metrics, comparable_rounds, run_cli, seeded_policy, write_recipe

pytestmark = pytest.mark.slow

# Held out: "add" and "neg" (split seed 6), 16 samples each; one round. Two held-out tasks
# cannot show a gain (round 1 moves the secure rate by one sample in 32), so the gate is told
# to need none (a non-inferiority margin: min_improvement -1): round 1 is promoted unless a
# guard rejects it (asserted below), and a child run has a promoted adapter to start from.
RECIPE = {"evaluation": {"split_seed": 6, "n_samples": 16, "k": [1, 4, 16]},
          "dpo": {"learning_rate": 1e-2, "epochs": 4},
          "gate": {"objective": "secure_rate", "pass_at_1_tolerance": 0.05, "min_improvement": -1.0}}


@pytest.fixture(scope="session")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def reference(tmp_path_factory, policy) -> Path:
    """One uninterrupted `codealign loop` run of the recipe."""
    where = tmp_path_factory.mktemp("reference")
    done = run_cli(write_recipe(where, policy, **RECIPE))
    assert done.returncode == 0, done.stderr[-3000:]
    return where / "runs" / "t"


def runs_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codealign", "runs", *args], capture_output=True, text=True,
                          env=cli_env(), cwd=ROOT, timeout=timeout)


def files(run: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(run.rglob("*")) if p.is_file()}


def wait_for_event(run: Path, proc: subprocess.Popen, kind: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in read_events(run):
            if event["type"] == kind:
                return event
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {timeout} s")


def assert_events_numbered(run: Path) -> None:
    assert [e["seq"] for e in read_events(run)] == list(range(1, len(read_events(run)) + 1))


def test_a_second_process_is_refused_then_cancel_and_resume_from_the_cli(tmp_path, policy, reference):
    recipe = write_recipe(tmp_path, policy, **RECIPE)
    run = tmp_path / "runs" / "t"
    holder = subprocess.Popen([sys.executable, "-m", "codealign", "loop", "--config", str(recipe)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    try:
        wait_for_event(run, holder, "stage_started")
        os.kill(holder.pid, signal.SIGSTOP)          # nothing of the holder moves while we look
        try:
            before = files(run)
            second = run_cli(recipe)
            other = run_cli(write_recipe(tmp_path, policy, seed=5, **RECIPE))     # another config, too
            after = files(run)
        finally:
            os.kill(holder.pid, signal.SIGCONT)
        for refused in (second, other):
            assert refused.returncode == 3, refused.stderr[-2000:]
            assert f"pid {holder.pid}" in refused.stderr and "busy" in refused.stderr
        assert after == before                        # the refused processes touched nothing
        assert read_state(run).status is RunStatus.RUNNING

        canceled = runs_cli("cancel", str(run))
        assert canceled.returncode == 0, canceled.stderr
        _, err = holder.communicate(timeout=600)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == 4, err[-3000:]
    assert read_state(run).status is RunStatus.CANCELED and not (run / "cancel.request").exists()
    assert read_events(run)[-1]["type"] == "run_canceled"

    resumed = runs_cli("resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = read_state(run)
    assert state.status is RunStatus.SUCCEEDED and state.resumed == 1 and state.holder is None
    assert comparable_rounds(run) == comparable_rounds(reference)
    assert_events_numbered(run)


def test_sigkill_reads_interrupted_and_resume_gives_the_same_rounds(tmp_path, policy, reference):
    recipe = write_recipe(tmp_path, policy, **RECIPE)
    run = tmp_path / "runs" / "t"
    killed = run_cli(recipe, kill_at="round-1/judge")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert json.loads((run / "state.json").read_text())["status"] == "running"
    state = read_state(run)
    assert state.status is RunStatus.INTERRUPTED and state.round == 1 and state.stage == "judge"

    resumed = runs_cli("resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_state(run).status is RunStatus.SUCCEEDED and read_state(run).resumed == 1
    assert comparable_rounds(run) == comparable_rounds(reference)
    assert_events_numbered(run)


# Where a cancel requested as the stage starts takes effect: inside the stage for every stage
# with a long step (generation batches, sandbox jobs, training steps); the judge stage (judges
# run in-process, in seconds) finishes and the run stops before the next stage.
CANCEL_AT = {(0, "evaluate"): (0, "evaluate"), (1, "sample"): (1, "sample"), (1, "execute"): (1, "execute"),
             (1, "judge"): (1, "train"), (1, "train"): (1, "train"), (1, "evaluate"): (1, "evaluate")}


def test_cancel_in_every_stage_then_resume_gives_the_same_rounds(tmp_path, policy, reference):
    import torch

    torch.set_num_threads(1)              # as the CLI runs (OMP_NUM_THREADS=1): the same numbers
    run = create_run(load_config(write_recipe(tmp_path, policy, **RECIPE)))
    latencies = {}
    for target, stops_in in CANCEL_AT.items():
        asked: list[float] = []

        def cancel_at(event, target=target, asked=asked):
            if isinstance(event, StageStarted) and (event.round, event.stage) == target:
                asked.append(time.monotonic())
                request_cancel(run)           # the lease is ours: this writes cancel.request
        state = execute_run(run, subscribers=[cancel_at])
        latencies[target] = time.monotonic() - asked[0]
        assert state.status is RunStatus.CANCELED, (target, state)
        last = read_events(run)[-1]
        assert last["type"] == "run_canceled" and (last["round"], last["stage"]) == stops_in
        assert not (run / f"round-{stops_in[0]}" / stops_in[1] / "manifest.json").exists()
        assert not (run / "cancel.request").exists()

    # Asked while the last stage runs, a cancel finds nothing left to stop.
    def cancel_at_gate(event):
        if isinstance(event, StageStarted) and event.stage == "gate":
            request_cancel(run)
    state = execute_run(run, subscribers=[cancel_at_gate])
    assert state.status is RunStatus.SUCCEEDED and state.resumed == len(CANCEL_AT)
    assert comparable_rounds(run) == comparable_rounds(reference)
    assert_events_numbered(run)
    print("cancel latency (s):", {f"round-{r}/{s}": round(v, 2) for (r, s), v in latencies.items()})


def test_another_thread_count_gives_the_same_rounds(tmp_path, policy, reference):
    """Two runs in two folders, one torch thread and two (sampling, DPO): the same
    rounds.jsonl, measured CPU-time figures aside."""
    done = run_cli(write_recipe(tmp_path, policy, **RECIPE), threads=2)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "t"
    assert comparable_rounds(run) == comparable_rounds(reference)
    # (pairs.jsonl holds the verdicts' measured CPU times; the adapter trained on them does not)
    for rel in ("round-1/sample/samples.jsonl", "round-1/train/adapter/adapter_model.safetensors",
                "round-1/evaluate/samples.jsonl"):
        assert (run / rel).read_bytes() == (reference / rel).read_bytes(), rel


def test_a_child_run_starts_from_the_parents_promoted_adapter(tmp_path, policy, reference):
    parent = RunReader(reference)
    last = last_promoted(parent.rounds())
    assert last, "the recipe's round 1 must be promoted for this test: " + parent.rounds()[-1].reason
    child_recipe = write_recipe(tmp_path, policy, name="child", **RECIPE)
    done = run_cli(child_recipe, None, None, "--parent-run", str(reference))
    assert done.returncode == 0, done.stderr[-3000:]
    child = RunReader(tmp_path / "runs" / "child")
    first = child.round(0)
    assert first.policy == f"t/round-{last.round}"
    # the same adapter on the same tasks and seeds (CPU-time costs are measured again)
    assert comparable_metrics(first.metrics.to_dict()) == comparable_metrics(last.metrics.to_dict())
    trained = json.loads((reference / f"round-{last.round}/train/manifest.json").read_text())
    assert first.lineage == Lineage(parent_run=str(reference.resolve()), parent_round=last.round,
                                    adapter_hash=trained["output_hashes"]["adapter"])
    assert child.round(1).started_from == f"t/round-{last.round}"
    assert (child.split()["train"], child.split()["heldout"]) == (parent.split()["train"], parent.split()["heldout"])
    assert child.state().parent_run == str(reference.resolve())


def test_reader_agrees_with_rounds_jsonl(reference):
    reader = RunReader(reference)
    split = reader.split()
    for record in reader.rounds():
        k, metrics = record.round, record.metrics
        results = reader.task_results(k)
        held = [r for r in results if r.side == "heldout"]
        assert [r.task_id for r in held] == split["heldout"]
        assert sum(r.samples for r in held) == metrics.samples
        assert sum(r.pass_rate for r in held) / len(held) == pytest.approx(metrics.pass_at_1)
        passed = sum(r.passed for r in held)
        if passed:
            assert sum(r.secure_passed for r in held) / passed == pytest.approx(metrics.secure_rate)
        samples = reader.samples(k, "heldout")
        assert len(samples) == metrics.samples and sum(s["honest"] for s in samples) == passed
        assert len(reader.samples(k, "heldout", task_id=split["heldout"][0])) == held[0].samples
        if k == 0:
            assert not [r for r in results if r.side == "train"]
            continue
        train = [r for r in results if r.side == "train"]
        assert {r.task_id for r in train} <= set(split["train"])
        assert sum(r.samples for r in train) == record.samples == len(reader.samples(k, "train"))
        pairs = reader.pairs(k)
        assert len(pairs) == record.pairs
        for reason, count in record.pairs_by_reason.items():
            assert len(reader.pairs(k, reason=reason)) == count
        steps = reader.train_metrics(k)
        assert len(steps) == record.train.steps
        assert set(steps[0]) == {"step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                                 "rewards/accuracies", "logps/chosen", "logps/rejected"}
    assert set(reader.timings()) == {f"round-{r.round}" for r in reader.rounds()}
    types = [e["type"] for e in reader.events()]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("round_decided") == len(reader.rounds()) - 1
