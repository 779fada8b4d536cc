"""The one read path over a run directory, for the CLI, the demo, the API and the dashboard.

`RunReader` reads only files: it takes no lease and may be used while the run is being
worked on (every file it reads is replaced atomically, except ``events.jsonl``, whose torn
last line it skips). Per-task results come from the records the stages wrote:

- held-out side of round k: ``round-k/evaluate/outcomes.jsonl`` (the policy round k made,
  or at round 0 the starting policy), one line per sample with its honest/secure flags;
- train side of round k (k >= 1): ``round-k/judge/verdicts.jsonl``, the round's own samples,
  drawn by the policy the round started from.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from codealign.errors import InputError
from codealign.jsonl import read_jsonl
from codealign.runs.engine import CONFIG_FILE, SPLIT_FILE, read_task_snapshot
from codealign.runs.events import read_events
from codealign.runs.rounds import read_rounds, stage_timings
from codealign.runs.state import RunState, read_state

__all__ = ["RunReader", "TRAIN_METRICS"]

TRAIN_METRICS = ("step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                 "rewards/accuracies", "logps/chosen", "logps/rejected")
SIDES = ("train", "heldout")


class RunReader:
    """Read-only view of one run directory."""

    def __init__(self, run_path: str | Path) -> None:
        self.path = Path(run_path)
        if not (self.path / CONFIG_FILE).exists():
            raise InputError("not a run directory (no config.json)", path=str(self.path))

    def _json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def _rows(self, rel: str) -> list[dict[str, Any]]:
        path = self.path / rel
        return [d for _, d in read_jsonl(path)] if path.exists() else []

    def state(self) -> RunState:
        return read_state(self.path)

    def config(self) -> dict[str, Any]:
        """The config as recorded (plain data)."""
        return self._json(CONFIG_FILE)

    def split(self) -> dict[str, Any]:
        """``{"train": [...], "heldout": [...], "rule", "fraction", "seed"}``."""
        return self._json(SPLIT_FILE)

    def tasks(self) -> list:
        """The task snapshot (`Task` objects)."""
        return read_task_snapshot(self.path)

    def rounds(self) -> list[dict[str, Any]]:
        """The round records, as in rounds.jsonl (round 0: the starting policy)."""
        return read_rounds(self.path)

    def round(self, k: int) -> dict[str, Any]:
        for r in self.rounds():
            if r["round"] == k:
                return r
        raise InputError(f"round {k} is not decided yet", path=str(self.path / "rounds.jsonl"))

    def timings(self) -> dict[str, dict[str, float]]:
        return stage_timings(self.path)

    def events(self, after_seq: int = 0) -> list[dict[str, Any]]:
        return read_events(self.path, after_seq)

    # -- per sample ---------------------------------------------------------------------------

    def _heldout_outcomes(self, k: int) -> list[dict[str, Any]]:
        return self._rows(f"round-{k}/evaluate/outcomes.jsonl")

    def _train_verdicts(self, k: int) -> list:
        from codealign.judges.verdict import Verdict

        return [Verdict.from_dict(d) for d in self._rows(f"round-{k}/judge/verdicts.jsonl")]

    def samples(self, k: int, side: str = "heldout", task_id: str | None = None) -> list[dict[str, Any]]:
        """Round k's samples on one side: the Sample fields plus ``status`` (the execution's),
        ``honest`` (passed honestly), ``secure`` (None unless honest and scanned) and ``cost``."""
        if side not in SIDES:
            raise InputError(f"side must be one of {list(SIDES)}, got {side!r}", field="side")
        if side == "heldout":
            flags = {o["sample_id"]: o for o in self._heldout_outcomes(k)}
            samples = self._rows(f"round-{k}/evaluate/samples.jsonl")
        else:
            flags = {v.sample_id: _train_flags(v) for v in self._train_verdicts(k)}
            samples = self._rows(f"round-{k}/sample/samples.jsonl")
        out = []
        for s in samples:
            if task_id is not None and s["task_id"] != task_id:
                continue
            f = flags.get(s["sample_id"], {})
            out.append({**s, "status": f.get("status"), "honest": f.get("honest", False),
                        "secure": f.get("secure"), "cost": f.get("cost")})
        return out

    def task_results(self, k: int) -> list[dict[str, Any]]:
        """Per task of round k: task_id, side, samples, passed (honestly), secure_passed,
        insecure_passed, mean_cost (of honest passes: line events on the perf inputs; held-out
        falls back to CPU seconds as the round's report says), pass_rate. Train tasks first."""
        rows: list[dict[str, Any]] = []
        train = [_train_flags(v) | {"task_id": v.task_id} for v in self._train_verdicts(k)]
        for side, flags in (("train", train), ("heldout", self._heldout_outcomes(k))):
            by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for f in flags:
                by_task[f["task_id"]].append(f)
            for task_id, group in by_task.items():
                honest = [f for f in group if f["honest"]]
                costs = [f["cost"] for f in honest if f["cost"] is not None]
                rows.append({"task_id": task_id, "side": side, "samples": len(group),
                             "passed": len(honest),
                             "secure_passed": sum(1 for f in honest if f["secure"] is True),
                             "insecure_passed": sum(1 for f in honest if f["secure"] is False),
                             "mean_cost": sum(costs) / len(costs) if costs else None,
                             "pass_rate": len(honest) / len(group)})
        return rows

    def pairs(self, k: int, reason: str | None = None, task_id: str | None = None) -> list[dict[str, Any]]:
        """Round k's preference pairs (TRL fields plus task_id, reason, margin, ids)."""
        return [p for p in self._rows(f"round-{k}/judge/pairs.jsonl")
                if (reason is None or p["reason"] == reason) and (task_id is None or p["task_id"] == task_id)]

    def train_metrics(self, k: int) -> list[dict[str, Any]]:
        """The DPO trainer's logged figures per step of round k (empty when it did not train)."""
        return [{key: m.get(key) for key in TRAIN_METRICS} for m in self._rows(f"round-{k}/train/metrics.jsonl")]


def _train_flags(verdict) -> dict[str, Any]:
    """A verdict's outcome in the form of ``outcomes.jsonl``."""
    from codealign.trainer.evaluate import is_secure

    honest = verdict.passed
    security = verdict.score("security")
    secure = is_secure(security.details.get("findings", ())) if honest and security is not None else None
    return {"sample_id": verdict.sample_id, "status": verdict.execution.status.value, "honest": honest,
            "secure": secure, "cost": verdict.execution.cost.ops if honest else None}
