"""``rounds.jsonl`` and ``timings.json``, rebuilt from the stage manifests (never appended).

Each line of ``rounds.jsonl`` is a `codealign.records.RoundRecord` (its schema version in the
line); this module is the one place that maps the stages' results onto it.

``rounds.jsonl`` holds no wall times (they live in ``timings.json``), so two runs with the
same seeds — one interrupted and resumed, one not — write the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from codealign.jsonl import read_jsonl, write_json, write_jsonl
from codealign.records.allocation import AllocationSummary
from codealign.records.rounds import (Lineage, RoundArtifacts, RoundDecision, RoundMetrics, RoundRecord,
                                      RoundStatus, TrainSummary, parse_round)
from codealign.records.training import TrainingSetSummary
from codealign.runs.stages import STAGES, StageManifest, read_manifest

__all__ = ["write_rounds", "read_rounds", "stage_timings", "manifests", "LINEAGE_FILE", "ROUNDS_FILE"]

LINEAGE_FILE = "lineage.json"
ROUNDS_FILE = "rounds.jsonl"


def manifests(run_path: Path) -> dict[int, dict[str, StageManifest]]:
    """``{round: {stage: manifest}}`` of every finished stage."""
    out: dict[int, dict[str, StageManifest]] = {}
    for round_dir in Path(run_path).glob("round-*"):
        try:
            k = int(round_dir.name.removeprefix("round-"))
        except ValueError:
            continue
        for stage in STAGES:
            m = read_manifest(round_dir / stage)
            if m is not None:
                out.setdefault(k, {})[stage] = m
    return out


def _round_record(run_path: Path, k: int, stages: dict[str, StageManifest]) -> RoundRecord:
    def artifact(stage: str, name: str) -> str | None:
        m = stages.get(stage)
        return f"round-{k}/{stage}/{m.outputs[name]}" if m and name in m.outputs else None

    ev = stages["evaluate"]
    metrics = None if ev.skipped else RoundMetrics.from_evaluation(ev.result)
    if k == 0:
        policy, lineage = "base", None
        path = Path(run_path) / LINEAGE_FILE
        if path.exists():
            info = json.loads(path.read_text(encoding="utf-8"))
            policy = info["policy"]
            lineage = Lineage(parent_run=info["parent_run"], parent_round=info["parent_round"],
                              adapter_hash=info["adapter_hash"])
        return RoundRecord(round=0, policy=policy, status=RoundStatus.BASELINE, metrics=metrics,
                           artifacts=RoundArtifacts(eval_report=artifact("evaluate", "report")), lineage=lineage)
    sample, judge, train, gate = (stages[s] for s in ("sample", "judge", "train", "gate"))
    decision = RoundDecision.from_dict(gate.result)
    return RoundRecord(
        round=k, policy=f"round-{k}", started_from=sample.inputs["policy"]["name"],
        status=decision.status, reason=decision.reason, gate=decision, metrics=metrics,
        samples=sample.result["samples"],
        allocation=AllocationSummary.from_dict(sample.result["allocation"]) if "allocation" in sample.result else None,
        pairs=judge.result["pairs"], pairs_by_reason=judge.result["pairs_by_reason"],
        training_set=TrainingSetSummary.from_dict(train.result["training_set"])
        if "training_set" in train.result else None,
        train=TrainSummary.from_train(train.result),
        artifacts=RoundArtifacts(
            samples=artifact("sample", "samples"), allocation=artifact("sample", "allocation"),
            executions=artifact("execute", "executions"),
            verdicts=artifact("judge", "verdicts"), pairs=artifact("judge", "pairs"),
            training_set=artifact("train", "training_set"), replay=artifact("train", "replay"),
            adapter=artifact("train", "adapter"), train_metrics=artifact("train", "metrics"),
            eval_report=artifact("evaluate", "report"), decision=artifact("gate", "decision")))


def write_rounds(run_path: Path) -> None:
    """Rewrite rounds.jsonl and timings.json from the manifests (atomic; never appends)."""
    found = manifests(run_path)
    records = [_round_record(run_path, k, found[k]) for k in sorted(found)
               if "gate" in found[k] or (k == 0 and "evaluate" in found[k])]
    write_jsonl(Path(run_path) / ROUNDS_FILE, (r.to_dict() for r in records))
    write_json(Path(run_path) / "timings.json", _timings(found))


def read_rounds(run_path: str | Path) -> list[RoundRecord]:
    """The run's round records (none before round 0 is evaluated); `InputError` names the line
    of a bad record, or of one written with a schema version this code does not read."""
    path = Path(run_path) / ROUNDS_FILE
    if not path.exists():
        return []
    return [parse_round(obj, path=str(path), line=line) for line, obj in read_jsonl(path)]


def _timings(found: dict[int, dict[str, StageManifest]]) -> dict[str, dict[str, float]]:
    return {f"round-{k}": {s: m.seconds for s, m in stages.items()} for k, stages in sorted(found.items())}


def stage_timings(run_path: str | Path) -> dict[str, dict[str, float]]:
    """``{"round-k": {stage: seconds}}`` from the manifests (the time of the attempt that finished)."""
    return _timings(manifests(Path(run_path)))
