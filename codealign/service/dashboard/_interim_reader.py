"""INTERIM: the contract's `RunReader` / `list_runs` read straight from today's run layout.

Used only until `codealign.runs` (the run engine's reader) lands; `source.py` prefers the
real one. Deleted at that merge. Follows docs/runs-contract names and return shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codealign.jsonl import read_jsonl


def _rows(path: Path) -> list[dict[str, Any]]:
    return [obj for _, obj in read_jsonl(path)] if path.exists() else []


def _json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


class _State(dict):
    """The RunState fields as attributes (status as a plain string)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if k != "path"}


class RunReader:
    def __init__(self, run_path: str | Path) -> None:
        self.path = Path(run_path)

    def state(self) -> _State:
        default = {"status": "succeeded" if (self.path / "rounds.jsonl").exists() else "queued",
                   "round": None, "stage": None, "holder": None, "heartbeat": None,
                   "started_at": None, "finished_at": None, "error": None, "parent_run": None,
                   "resumed": 0}
        return _State(default | _json(self.path / "state.json", {}))

    def config(self) -> dict[str, Any]:
        return _json(self.path / "config.json", {})

    def split(self) -> dict[str, list[str]]:
        s = _json(self.path / "split.json", {})
        return {"train": s.get("train", []), "heldout": s.get("heldout", [])}

    def tasks(self) -> list:
        from codealign.tasks import Task

        rows = _rows(self.path / "tasks.jsonl")
        if not rows:
            from codealign.tasks import load_tasks

            spec = self.config().get("run", {}).get("tasks") or self.config().get("tasks")
            return load_tasks(spec) if spec else []
        return [Task.from_dict(r) for r in rows]

    def rounds(self) -> list[dict[str, Any]]:
        return _rows(self.path / "rounds.jsonl")

    def round(self, k: int) -> dict[str, Any]:
        return next(r for r in self.rounds() if r["round"] == k)

    def task_results(self, k: int) -> list[dict[str, Any]]:
        out = []
        for side in ("train", "heldout"):
            by_task: dict[str, list[dict[str, Any]]] = {}
            for s in self.samples(k, side=side):
                by_task.setdefault(s["task_id"], []).append(s)
            for task_id, group in by_task.items():
                passing = [s for s in group if s["passed"]]
                costs = [s["cost"] for s in passing if s["cost"] is not None]
                out.append({"task_id": task_id, "side": side, "samples": len(group),
                            "passed": len(passing),
                            "secure_passed": sum(1 for s in passing if s["secure"]),
                            "insecure_passed": sum(1 for s in passing if s["secure"] is False),
                            "mean_cost": sum(costs) / len(costs) if costs else None,
                            "pass_rate": len(passing) / len(group)})
        return out

    def samples(self, k: int, side: str = "heldout", task_id: str | None = None) -> list[dict[str, Any]]:
        base = self.path / f"round-{k}"
        stage = "evaluate" if side == "heldout" else "sample"
        samples = _rows(base / stage / "samples.jsonl")
        execs = {e["sample_id"]: e for e in _rows(base / ("evaluate" if side == "heldout" else "execute")
                                                      / "executions.jsonl")}
        verdicts = {v["sample_id"]: v for v in _rows(base / "judge" / "verdicts.jsonl")} if side == "train" else {}
        out = []
        for s in samples:
            if task_id is not None and s["task_id"] != task_id:
                continue
            e = execs.get(s["sample_id"], {})
            v = verdicts.get(s["sample_id"])
            passed = e.get("status") == "passed"
            secure = None
            if passed and v is not None and v["scores"]["security"]["status"] == "ok":
                secure = v["scores"]["security"]["details"]["medium"] + v["scores"]["security"]["details"]["high"] == 0
            cost = (e.get("cost") or {}).get("ops") if passed else None
            out.append(s | {"status": e.get("status"), "tests_passed": e.get("tests_passed"),
                            "tests_total": e.get("tests_total"), "passed": passed, "honest": passed,
                            "secure": secure, "cost": cost,
                            "explanation": v["explanation"] if v else None,
                            "maintainability": (v["scores"]["maintainability"]["details"].get("mi")
                                                if v and v["scores"]["maintainability"]["status"] == "ok" else None),
                            "cc_max": (v["scores"]["maintainability"]["details"].get("cc_max")
                                       if v and v["scores"]["maintainability"]["status"] == "ok" else None)})
        return out

    def pairs(self, k: int, reason: str | None = None, task_id: str | None = None) -> list[dict[str, Any]]:
        return [p for p in _rows(self.path / f"round-{k}" / "judge" / "pairs.jsonl")
                if (reason is None or p["reason"] == reason) and (task_id is None or p["task_id"] == task_id)]

    def train_metrics(self, k: int) -> list[dict[str, Any]]:
        return _rows(self.path / f"round-{k}" / "train" / "metrics.jsonl")

    def timings(self) -> dict[str, dict[str, float]]:
        return _json(self.path / "timings.json", {})

    def events(self, after_seq: int = 0) -> list[dict[str, Any]]:
        return [e for e in _rows(self.path / "events.jsonl") if e["seq"] > after_seq]


def list_runs(run_dir: str | Path) -> list[_State]:
    out = []
    for p in sorted(Path(run_dir).iterdir()) if Path(run_dir).is_dir() else []:
        if (p / "config.json").exists() or (p / "state.json").exists():
            s = RunReader(p).state()
            s["path"] = p
            out.append(s)
    return out
