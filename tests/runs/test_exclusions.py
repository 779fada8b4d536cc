"""Pairs a reviewer disagreed with never reach a training set: ``exclusions.json`` and the train stage."""

from __future__ import annotations

import json

import pytest

from codealign.errors import InputError
from codealign.records import PairRow
from codealign.runs.events import EventLog
from codealign.runs.exclusions import EXCLUSIONS_FILE, read_exclusions, round_exclusions, write_exclusions
from codealign.runs.stages import Context, Policy, read_manifest, train_stage
from codealign.runs.state import CancelToken, RunLease
from literal_round import judged_round, make_run, pair_lines

DPO = {"beta": 0.1, "learning_rate": 1e-3, "epochs": 1, "batch_size": 2, "max_length": 64, "lora_r": 4,
       "lora_alpha": 8, "lora_target_modules": ["q_proj", "v_proj"]}


def test_the_file_reads_back_and_a_bad_one_is_named(tmp_path):
    assert read_exclusions(tmp_path) == frozenset()
    assert write_exclusions(tmp_path, ["b" * 24, "a" * 24, "a" * 24], source="test")
    data = json.loads((tmp_path / EXCLUSIONS_FILE).read_text())
    assert data["pair_ids"] == ["a" * 24, "b" * 24] and data["schema_version"] == 1 and data["source"] == "test"
    assert read_exclusions(tmp_path) == {"a" * 24, "b" * 24}
    assert not write_exclusions(tmp_path, ["a" * 24, "b" * 24], source="test")     # unchanged: not rewritten
    (tmp_path / EXCLUSIONS_FILE).write_text(json.dumps({"pair_ids": "x"}))
    with pytest.raises(InputError, match=r"exclusions\.json: field pair_ids"):
        read_exclusions(tmp_path)
    assert write_exclusions(tmp_path, [], source="test")                           # a broken file is replaced
    assert read_exclusions(tmp_path) == frozenset()


def _train(run, tasks, round_no=1):
    from codealign.runs.engine import stored_config

    config = stored_config(run)
    with RunLease(run).acquire(heartbeat=False) as lease:
        ctx = Context(config, run, tasks, lease, EventLog(run), CancelToken(run))
        judged = read_manifest(run / f"round-{round_no}" / "judge")
        try:
            return train_stage(ctx, round_no, judged, Policy("base"), Policy("base"), [t.task_id for t in tasks])
        finally:
            ctx.close()


def test_a_round_whose_every_pair_is_excluded_trains_nothing(tmp_path):
    run, tasks = make_run(tmp_path / "runs")
    judged_round(run, tasks)
    ids = [p["pair_id"] for p in pair_lines(run / "round-1/judge/pairs.jsonl")]
    write_exclusions(run, ids + ["f" * 24], source="test")
    trained = _train(run, tasks)
    assert trained.skipped == "no preference pairs: nothing to train"
    assert trained.inputs["excluded"] == sorted(ids)                  # only the round's own, in the hash
    summary = trained.result["training_set"]
    assert summary["new"] == summary["replayed"] == 0 and summary["excluded"] == len(ids)
    assert (run / "round-1/train/pairs.jsonl").read_text() == ""


@pytest.mark.slow
def test_the_training_set_leaves_out_excluded_pairs_and_a_trained_round_keeps_its_own(tmp_path, tiny_model_dir):
    run, tasks = make_run(tmp_path / "runs", model=str(tiny_model_dir), dpo=DPO)
    judged_round(run, tasks)
    pairs = [PairRow.from_dict(d) for d in pair_lines(run / "round-1/judge/pairs.jsonl")]
    assert len(pairs) >= 2
    out = pairs[0].id
    write_exclusions(run, [out], source="test")
    trained = _train(run, tasks)
    training = [d["pair_id"] for d in pair_lines(run / "round-1/train/pairs.jsonl")]
    assert training == [p.id for p in pairs[1:]]
    assert trained.result["pairs"] == len(pairs) - 1 and trained.inputs["excluded"] == [out]
    # a pair excluded after the round trained: the finished stage keeps what it trained on
    write_exclusions(run, [out, pairs[1].id], source="test")
    assert round_exclusions(run, 1, [p.id for p in pairs]) == [out]
    again = _train(run, tasks)
    assert again.inputs_hash == trained.inputs_hash and again.seconds == trained.seconds
    # ... and a round not trained yet reads the file as it is now
    assert round_exclusions(run, 2, [p.id for p in pairs]) == sorted([out, pairs[1].id])
