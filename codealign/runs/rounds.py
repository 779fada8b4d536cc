"""``rounds.jsonl`` and ``timings.json``, rebuilt from the stage manifests (never appended).

``rounds.jsonl`` holds no wall times (they live in ``timings.json``), so two runs with the
same seeds — one interrupted and resumed, one not — write the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codealign.jsonl import read_jsonl, write_json, write_jsonl
from codealign.runs.stages import STAGES, StageManifest, read_manifest

__all__ = ["write_rounds", "read_rounds", "stage_timings", "manifests", "LINEAGE_FILE"]

LINEAGE_FILE = "lineage.json"


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


def _round_record(run_path: Path, k: int, stages: dict[str, StageManifest]) -> dict[str, Any]:
    def artifact(stage: str, name: str) -> str | None:
        m = stages.get(stage)
        return f"round-{k}/{stage}/{m.outputs[name]}" if m and name in m.outputs else None

    ev = stages["evaluate"].result
    metrics = None if ev.get("skipped") else {
        "pass@1": ev["pass@1"], "pass@k": ev["pass_at"], "secure_rate": ev["secure_rate"],
        "secure_pass_rate": ev["secure_pass_rate"], "mean_cost": ev["mean_cost"],
        "cost_unit": ev["cost_unit"], "mean_tokens": ev["mean_tokens"], "samples": ev["samples"]}
    if k == 0:
        record = {"round": 0, "policy": "base", "status": "baseline", "metrics": metrics,
                  "artifacts": {"eval_report": artifact("evaluate", "report")}}
        lineage = Path(run_path) / LINEAGE_FILE
        if lineage.exists():
            info = json.loads(lineage.read_text(encoding="utf-8"))
            record["policy"] = info["policy"]
            record["lineage"] = {k2: info[k2] for k2 in ("parent_run", "parent_round", "adapter_hash")}
        return record
    sample, judge, train, gate = (stages[s] for s in ("sample", "judge", "train", "gate"))
    return {
        "round": k,
        "policy": f"round-{k}",
        "started_from": sample.inputs["policy"]["name"],
        "status": gate.result["status"],
        "reason": gate.result["reason"],
        "gate": gate.result,
        "metrics": metrics,
        "samples": sample.result["samples"],
        "pairs": judge.result["pairs"],
        "pairs_by_reason": judge.result["pairs_by_reason"],
        "train": {k2: v for k2, v in train.result.items() if k2 not in ("tokens_per_s", "device")},
        "artifacts": {"samples": artifact("sample", "samples"), "executions": artifact("execute", "executions"),
                      "verdicts": artifact("judge", "verdicts"), "pairs": artifact("judge", "pairs"),
                      "adapter": artifact("train", "adapter"), "train_metrics": artifact("train", "metrics"),
                      "eval_report": artifact("evaluate", "report"), "decision": artifact("gate", "decision")},
    }


def write_rounds(run_path: Path) -> None:
    """Rewrite rounds.jsonl and timings.json from the manifests (atomic; never appends)."""
    found = manifests(run_path)
    records = [_round_record(run_path, k, found[k]) for k in sorted(found)
               if "gate" in found[k] or (k == 0 and "evaluate" in found[k])]
    write_jsonl(Path(run_path) / "rounds.jsonl", records)
    write_json(Path(run_path) / "timings.json", _timings(found))


def read_rounds(run_path: str | Path) -> list[dict[str, Any]]:
    path = Path(run_path) / "rounds.jsonl"
    return [obj for _, obj in read_jsonl(path)] if path.exists() else []


def _timings(found: dict[int, dict[str, StageManifest]]) -> dict[str, dict[str, float]]:
    return {f"round-{k}": {s: m.seconds for s, m in stages.items()} for k, stages in sorted(found.items())}


def stage_timings(run_path: str | Path) -> dict[str, dict[str, float]]:
    """``{"round-k": {stage: seconds}}`` from the manifests (the time of the attempt that finished)."""
    return _timings(manifests(Path(run_path)))
