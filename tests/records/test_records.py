"""The published records: one serializer, versioned files, runs written before the versions.

The literal lines below are what ``rounds.jsonl`` held before it had a schema version (written
by the code of main before this change, from a synthetic run): such a run still reads, and
what it reads serialises to the same keys and values plus the keys added since.
"""

from __future__ import annotations

import doctest
import json

import pytest

from codealign.errors import InputError
from codealign.records import (ROUNDS_SCHEMA, Flip, OutcomeRow, PairRow, RoundRecord, RoundStatus, TaskResult,
                               last_promoted, parse_round)
from codealign.records.nights import Night, NightRecord, parse_night
from codealign.runs import RunReader, read_rounds

V1_ROUNDS = [
    {"round": 0, "policy": "base", "status": "baseline",
     "metrics": {"pass@1": 0.08333333333333333, "pass@k": {"1": 0.08333333333333333, "2": 0.16666666666666666,
                                                           "4": 0.3333333333333333},
                 "secure_rate": 0.0, "secure_pass_rate": 0.0, "mean_cost": 8.0, "cost_unit": "ops",
                 "mean_tokens": 12.666666666666666, "samples": 12},
     "artifacts": {"eval_report": "round-0/evaluate/report.json"}},
    {"round": 1, "policy": "round-1", "started_from": "base", "status": "rejected",
     "reason": "pass@1 did not improve (+0.0000)",
     "gate": {"status": "rejected", "promoted": False, "reason": "pass@1 did not improve (+0.0000)",
              "objective": "pass@1", "delta": 0.0, "pass_at_1_delta": 0.0, "incumbent_round": 0},
     "metrics": {"pass@1": 0.08333333333333333, "pass@k": {"1": 0.08333333333333333, "2": 0.16666666666666666,
                                                           "4": 0.3333333333333333},
                 "secure_rate": 0.0, "secure_pass_rate": 0.0, "mean_cost": 8.0, "cost_unit": "ops",
                 "mean_tokens": 12.666666666666666, "samples": 12},
     "samples": 20, "pairs": 3, "pairs_by_reason": {"correctness": 2, "efficiency": 0, "security": 1,
                                                    "maintainability": 0},
     "train": {"steps": 8, "stopped_early": False, "stop_reason": "", "reference": "base", "pairs": 3,
               "train_tokens": 1000, "last": {"loss": 0.536, "rewards/margins": 0.2536, "drift": 0.08}},
     "artifacts": {"samples": "round-1/sample/samples.jsonl", "executions": "round-1/execute/executions.jsonl",
                   "verdicts": "round-1/judge/verdicts.jsonl", "pairs": "round-1/judge/pairs.jsonl",
                   "adapter": None, "train_metrics": "round-1/train/metrics.jsonl",
                   "eval_report": "round-1/evaluate/report.json", "decision": "round-1/gate/decision.json"}},
    {"round": 2, "policy": "round-2", "started_from": "round-1", "status": "promoted", "reason": "better",
     "gate": {"status": "promoted", "promoted": True, "reason": "better", "objective": "pass@1",
              "delta": 0.25, "pass_at_1_delta": 0.25, "incumbent_round": 0},
     "metrics": None, "samples": 20, "pairs": 0, "pairs_by_reason": {},
     "train": {"skipped": "no preference pairs: nothing to train"},
     "artifacts": {"samples": "round-2/sample/samples.jsonl", "eval_report": None}},
]


def _contains(new, old) -> bool:
    """Whether `new` has every key of `old` with the same value (recursively): only additions."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _contains(new[k], old[k]) for k in old)
    return new == old


@pytest.fixture()
def run(tmp_path):
    from tests.dashboard.synthetic_run import synthesize_run

    return synthesize_run(tmp_path / "syn", rounds=3, tasks=12, seed=2)


def test_a_rounds_file_without_a_schema_version_reads_and_serialises_to_the_same_json_plus_keys():
    records = [parse_round(line, path="rounds.jsonl", line=i) for i, line in enumerate(V1_ROUNDS, 1)]
    assert [r.status for r in records] == [RoundStatus.BASELINE, RoundStatus.REJECTED, RoundStatus.PROMOTED]
    assert records[0].metrics.pass_at_1 == V1_ROUNDS[0]["metrics"]["pass@1"]
    assert records[1].gate.incumbent_round == 0 and not records[1].gate.promoted
    assert records[2].train.skipped and records[2].metrics is None and not records[2].trained
    assert last_promoted(records) is records[2] and last_promoted(records[:2]) is None
    for old, record in zip(V1_ROUNDS, records):
        new = record.to_dict()
        assert _contains(new, old), (old, new)
        assert new["schema_version"] == ROUNDS_SCHEMA and RoundRecord.from_dict(new) == record


def test_an_old_run_reads_through_the_reader_and_a_rewrite_keeps_its_figures(run):
    lines = (run / "rounds.jsonl").read_text().splitlines()
    current = [json.loads(line) for line in lines]
    assert {r["schema_version"] for r in current} == {ROUNDS_SCHEMA}
    old = [{k: v for k, v in r.items() if k != "schema_version" and v is not None} for r in current]
    (run / "rounds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert [r.to_dict() for r in RunReader(run).rounds()] == current


def test_a_version_2_line_reads_without_allocation_and_training_set():
    line = {**V1_ROUNDS[1], "schema_version": 2}
    record = parse_round(line, path="rounds.jsonl", line=2)
    assert record.allocation is None and record.training_set is None and record.artifacts.allocation is None
    assert _contains(record.to_dict(), V1_ROUNDS[1]) and record.to_dict()["schema_version"] == ROUNDS_SCHEMA


def test_a_newer_schema_version_is_refused_naming_the_file_line_and_version(run):
    lines = (run / "rounds.jsonl").read_text().splitlines()
    future = json.loads(lines[1]) | {"schema_version": ROUNDS_SCHEMA + 1}
    (run / "rounds.jsonl").write_text("\n".join([lines[0], json.dumps(future), *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"rounds\.jsonl:2: field schema_version: written with round schema "
                                         rf"version {ROUNDS_SCHEMA + 1}; this codealign reads versions 1, 2, 3") as caught:
        RunReader(run).rounds()
    assert caught.value.line == 2


def test_a_bad_value_names_its_dotted_field(run):
    lines = (run / "rounds.jsonl").read_text().splitlines()
    bad = json.loads(lines[0])
    bad["metrics"]["pass@1"] = "high"
    (run / "rounds.jsonl").write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    with pytest.raises(InputError, match=r"rounds\.jsonl:1: field metrics\.pass@1: Input should be a valid number"):
        read_rounds(run)
    unknown = json.loads(lines[0]) | {"pass_rate": 1.0}
    with pytest.raises(InputError, match="field pass_rate: unknown field"):
        parse_round(unknown)
    with pytest.raises(InputError, match="field gate: .*not a gate decision"):
        parse_round(json.loads(lines[1]) | {"gate": {"status": "rejected", "reason": "x"}})


def test_the_reader_returns_records_and_the_files_hold_their_dicts(run):
    reader = RunReader(run)
    results = reader.task_results(2)
    assert results and all(isinstance(r, TaskResult) for r in results)
    assert {r.side for r in results} == {"train", "heldout"}
    held = [r for r in results if r.side == "heldout"]
    assert sum(r.pass_rate for r in held) / len(held) == pytest.approx(reader.round(2).metrics.pass_at_1)
    rows = [json.loads(line) for line in (run / "round-2/evaluate/outcomes.jsonl").read_text().splitlines()]
    assert [OutcomeRow.from_dict(r).to_dict() for r in rows] == rows
    pairs = reader.pairs(2)
    lines = [json.loads(line) for line in (run / "round-2/judge/pairs.jsonl").read_text().splitlines()]
    assert [p.to_dict() for p in pairs] == lines and all(isinstance(p, PairRow) for p in pairs)


def test_a_pair_as_the_judges_write_it_is_a_pair_row():
    from codealign.judges import judge_executions
    from tests.judges.judge_fixtures import REFERENCE, TASK, executions, samples

    _, pairs, _ = judge_executions([TASK], samples(), executions(), {TASK.task_id: REFERENCE})
    assert pairs
    for pair in pairs:
        line = json.loads(json.dumps(pair.to_dict()))
        assert PairRow.from_dict(line).to_dict() == line


def test_a_night_file_without_a_version_reads_and_another_version_is_refused():
    old = {"lineage": "lin", "night": 2, "run": "lin-night-0002", "parent_run": "lin-night-0001",
           "trigger": "cli", "slot": None, "started_at": "2026-01-01T02:00:00+00:00", "finished_at": None,
           "status": "succeeded", "tasks": 4, "tasks_added": ["t"], "tasks_removed": [],
           "submitted_tasks": [], "submitted_clashes": []}
    night = parse_night(old, path="night.json")
    assert isinstance(night, Night) and night.to_dict() == {"schema_version": 1, **old}
    with pytest.raises(InputError, match="night.json: field schema_version: written with night schema version 2"):
        parse_night(old | {"schema_version": 2}, path="night.json")
    published = NightRecord(**vars(night), rounds=1).to_dict()
    assert _contains(published, old) and published["pass_at_1_delta"] is None


def test_flips_are_one_rule_with_the_dashboards_labels():
    assert [Flip.between(a, b) for a, b in ((0, 0.5), (0.5, 0), (0.5, 1), (0, 0))] == \
        [Flip.FIXED, Flip.BROKEN, Flip.NONE, Flip.NONE]
    assert (Flip.FIXED.label, Flip.BROKEN.label) == ("fail→pass", "pass→fail")


@pytest.mark.parametrize("module", ["codealign.records.rounds", "codealign.records.results", "codealign.config",
                                    "codealign.trainer.evaluate", "codealign.service.dashboard.views"])
def test_doctests(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted and not result.failed
