"""Per-sample and per-task results of a round, and the pairs as the judge stage wrote them.

- `OutcomeRow`: one line of ``round-k/evaluate/outcomes.jsonl`` (a held-out sample's outcome),
  written by the evaluate stage;
- `TaskResult`: one task's figures in a round (`codealign.runs.RunReader.task_results`):
  held-out tasks from the round's evaluation, train tasks from the round's own samples;
- `Flip`: how a task changed between two rounds (the API's pass-rate metrics and the
  dashboard's flips view);
- `PairRow`: one line of ``round-k/judge/pairs.jsonl`` (`codealign.judges.pairs.Pair.to_dict`, with
  its stable ``pair_id`` and its `codealign.records.provenance.PairProvenance`).

A sample *passes* when it passed its tests honestly (`codealign.judges.rules`: the sandbox said
passed and the tamper judge found nothing). A sample that did not pass carries its `Failure`
(the first failed test and the sandbox's reason); one that passed the task's own tests but
disagreed with the reference on a strengthened input (differential testing's cases,
``diff[i]``) is a `Disagreement` of its task's result, the reason naming the input and both
outputs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codealign.records.codec import Record
from codealign.records.provenance import PairProvenance

__all__ = ["Side", "Failure", "Disagreement", "OutcomeRow", "TaskResult", "Flip", "PairVerdict", "PairRow",
           "DIFFERENTIAL_TEST", "MAX_DISAGREEMENTS"]

DIFFERENTIAL_TEST = "diff["
"""How the names of differential testing's cases begin (the sandbox's ``diff[i]``)."""
MAX_DISAGREEMENTS = 3
"""Disagreements a `TaskResult` lists (it counts them all)."""
MAX_DETAIL = 500


class Side(enum.StrEnum):
    """Which side of the run's split a task is on."""

    TRAIN = "train"
    HELDOUT = "heldout"


@dataclass(frozen=True, kw_only=True)
class Failure(Record):
    """Why a sample did not pass, from its execution."""

    test: str | None
    """The first failed test's name (``call[2]``, ``script``, ``diff[4]``); None when the run
    failed as a whole (a timeout, a crash, a missing entry point)."""
    detail: str
    """The sandbox's reason (for a disagreement: the input, the reference's output and the sample's)."""
    differential: bool
    """Every failed test is a differential case: the sample passed the task's own tests and
    disagreed with the reference on a strengthened input."""

    @classmethod
    def of(cls, execution: Mapping[str, Any]) -> "Failure | None":
        """The failure of an execution (its `Execution.to_dict` form); None when it passed.

        >>> Failure.of({"status": "failed", "detail": "", "outcomes": [
        ...     {"name": "call[0]", "passed": True, "detail": ""},
        ...     {"name": "diff[3]", "passed": False, "detail": "on input (2,) the reference returned 4, this returned 5"}]})
        Failure(test='diff[3]', detail='on input (2,) the reference returned 4, this returned 5', differential=True)
        """
        if execution["status"] == "passed":
            return None
        failed = [o for o in execution.get("outcomes", ()) if not o["passed"]]
        first = failed[0] if failed else None
        detail = (first["detail"] if first and first["detail"] else execution.get("detail") or execution["status"])
        return cls(test=first["name"] if first else None, detail=detail[:MAX_DETAIL],
                   differential=bool(failed) and all(o["name"].startswith(DIFFERENTIAL_TEST) for o in failed))


@dataclass(frozen=True, kw_only=True)
class Disagreement(Record):
    """A sample that passed its task's own tests but not differential testing."""

    sample_id: str
    test: str
    """The differential case it failed first (``diff[i]``)."""
    detail: str
    """The input (truncated), what the reference returned, what the sample returned."""


@dataclass(frozen=True, kw_only=True)
class OutcomeRow(Record):
    """A held-out sample's outcome, as the evaluate stage judged it."""

    task_id: str
    sample_id: str
    status: str
    """The sandbox's status (`codealign.sandbox.execution.Status`)."""
    honest: bool
    """Passed its tests honestly."""
    secure: bool | None
    """No medium/high bandit finding (None: not an honest pass, or the scan failed)."""
    cost: float | None
    """`codealign.judges.efficiency.cost_s` of an honest pass, seconds (else None)."""
    tokens: int
    failure: Failure | None = None
    """Why the sandbox did not pass it (None: it passed, or an outcome written before failures were)."""


@dataclass(frozen=True, kw_only=True)
class TaskResult(Record):
    """One task's figures in one round."""

    task_id: str
    side: Side
    samples: int
    passed: int
    """Samples that passed honestly."""
    secure_passed: int
    insecure_passed: int
    """Honest passes with a medium/high bandit finding (a pass the scan failed on is neither)."""
    mean_cost: float | None
    """Mean cost of the honest passes, seconds (None: none was measured)."""
    pass_rate: float
    """passed / samples: the task's pass@1."""
    disagreed: int = 0
    """Samples that passed the task's own tests but disagreed with the reference on a
    strengthened input (failed by differential testing alone)."""
    disagreements: tuple[Disagreement, ...] = ()
    """The first `MAX_DISAGREEMENTS` of them, with the input and both outputs."""


class Flip(enum.StrEnum):
    """How a task changed from round a to round b; it passes a round when at least one of
    its samples passed (`Flip.between`). `label` is how the dashboard heads each group."""

    FIXED = "fixed"
    BROKEN = "broken"
    NONE = "none"

    @classmethod
    def between(cls, before: float, after: float) -> Flip:
        """The flip of a task whose pass rate went from `before` to `after`.

        >>> Flip.between(0.0, 0.25).label, Flip.between(0.5, 0.0).label, Flip.between(0.5, 1.0).value
        ('fail→pass', 'pass→fail', 'none')
        """
        if (before > 0) == (after > 0):
            return cls.NONE
        return cls.FIXED if after > 0 else cls.BROKEN

    @property
    def label(self) -> str:
        return {"fixed": "fail→pass", "broken": "pass→fail", "none": "unchanged"}[self.value]


@dataclass(frozen=True, kw_only=True)
class PairVerdict(Record):
    """One side of a pair, summarised with a fixed set of keys (the verdict itself is in
    verdicts.jsonl under `sample_id`)."""

    sample_id: str
    status: str
    tests_passed: int
    tests_total: int
    rank: int | None
    tampered: bool
    efficiency: float | None
    ops: int | None
    perf_cpu_s: float | None
    security: float | None
    maintainability: float | None
    explanation: str


@dataclass(frozen=True, kw_only=True)
class PairRow(Record):
    """A preference pair: TRL's ``prompt``/``chosen``/``rejected`` plus its provenance."""

    prompt: str
    chosen: str
    rejected: str
    task_id: str
    reason: str
    """Why chosen beat rejected (`codealign.judges.pairs.PairReason`)."""
    margin: float
    """In the reason's own unit (see `codealign.judges.pairs`)."""
    chosen_id: str
    rejected_id: str
    chosen_verdict: PairVerdict
    rejected_verdict: PairVerdict
    pair_id: str | None = None
    """`codealign.judges.pairs.pair_id` of the three texts (None in files written before it:
    `id` computes it)."""
    provenance: PairProvenance | None = None
    """What made the pair (`codealign.records.provenance`); None in files written before it."""

    @property
    def id(self) -> str:
        """The pair's stable id (a content hash of prompt, chosen and rejected)."""
        if self.pair_id is not None:
            return self.pair_id
        from codealign.judges.pairs import pair_id

        return pair_id(self.prompt, self.chosen, self.rejected)
