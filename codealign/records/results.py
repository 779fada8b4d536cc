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
passed and the tamper judge found nothing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from codealign.records.codec import Record
from codealign.records.provenance import PairProvenance

__all__ = ["Side", "OutcomeRow", "TaskResult", "Flip", "PairVerdict", "PairRow"]


class Side(enum.StrEnum):
    """Which side of the run's split a task is on."""

    TRAIN = "train"
    HELDOUT = "heldout"


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
