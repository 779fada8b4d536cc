"""What a round trained on: ``round-k/train/pairs.jsonl`` and ``round-k/train/replay.jsonl``.

A round's training set is its own pairs (the judge stage's ``pairs.jsonl``) plus pairs
replayed from earlier rounds of the run and, in a lineage, of earlier runs, each re-checked
under the run's rules first (`codealign.runs.trainset`). Every line of the training set is a
`TrainingPair`: the pair as the judge stage wrote it (`PairRow`, with its stable ``pair_id``)
and where it was made (`PairOrigin`). Every earlier pair that was considered and re-checked is
a `ReplayCheck` line of ``replay.jsonl`` (kept, or dropped with the rule it broke). The round
record carries the `TrainingSetSummary`.
"""

from __future__ import annotations

from dataclasses import dataclass

from codealign.records.codec import Record
from codealign.records.results import PairRow

__all__ = ["PairOrigin", "TrainingPair", "ReplayCheck", "TrainingSetSummary"]


@dataclass(frozen=True, kw_only=True)
class PairOrigin(Record):
    """Where a pair was made: the run (its directory's name) and the round."""

    run: str
    round: int

    @property
    def label(self) -> str:
        """``run/round-k``."""
        return f"{self.run}/round-{self.round}"


@dataclass(frozen=True, kw_only=True)
class TrainingPair(PairRow):
    """A line of a round's training set (TRL reads ``prompt``/``chosen``/``rejected``)."""

    origin: PairOrigin
    replayed: bool
    """Made by an earlier round (True) or by this round's judge stage."""


@dataclass(frozen=True, kw_only=True)
class ReplayCheck(Record):
    """An earlier pair re-checked for a round's training set."""

    pair_id: str
    task_id: str
    reason: str
    """The pair's reason (`codealign.judges.pairs.PairReason`)."""
    origin: PairOrigin
    kept: bool
    fault: str | None
    """Why it was dropped (`codealign.runs.trainset.ReplayFault` or
    `codealign.judges.pairs.PairFault`); None when kept."""
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class TrainingSetSummary(Record):
    """A round's training set in brief (the round record's ``training_set``)."""

    new: int
    """This round's own pairs trained on."""
    replayed: int
    """Earlier pairs trained on."""
    share: float
    """The replay share asked for (`ReplayConfig.share`)."""
    available: int
    """Earlier pairs that could be replayed (distinct, not excluded, not one of this round's)."""
    checked: int
    """Of them, re-checked under the run's rules (until the share was filled)."""
    dropped_by_fault: dict[str, int]
    """Re-checked pairs dropped, by the rule they broke."""
    replayed_by_origin: dict[str, int]
    """Replayed pairs by where they were made (``run/round-k``)."""
    excluded: int = 0
    """Pairs left out by id (a reviewer disagreed), new and earlier ones."""
