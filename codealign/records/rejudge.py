"""What ``codealign runs rejudge`` found: ``round-k/rejudge-<stamp>/report.json``.

A finished round judged again with today's code (its samples executed again, then judged;
`codealign.runs.rejudge`) is compared with what the round made: each pair of the original
``pairs.jsonl`` and of the new one, matched by its two samples. A pair is *kept* (the same
chosen and rejected sample, the same reason), *lost* (no new pair of those samples),
*gained* (no original pair of them), *flipped* (the other sample is now the chosen one) or
*reason-changed*; each change says why in words (`PairChange.why`: how each side's verdict
changed, or that the pair builder draws differently).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from codealign.records.codec import Record
from codealign.records.provenance import JudgeSource

__all__ = ["REJUDGE_SCHEMA", "ChangeKind", "PairChange", "SampleChange", "RejudgeReport"]

REJUDGE_SCHEMA = 1


class ChangeKind(enum.StrEnum):
    """How a pair of the round fared when it was judged again."""

    LOST = "lost"
    GAINED = "gained"
    FLIPPED = "flipped"
    REASON = "reason-changed"


@dataclass(frozen=True, kw_only=True)
class SampleChange(Record):
    """One sample whose verdict is not what it was."""

    sample_id: str
    task_id: str
    before: str
    """The verdict in brief, as the round judged it (``passed 2/2``, ``failed 3/5, insecure``...)."""
    after: str
    """... and as today's code judges it."""
    why: list[str]
    """Each difference in words (the first failing test, the tamper or bandit finding)."""


@dataclass(frozen=True, kw_only=True)
class PairChange(Record):
    """One pair lost, gained, flipped or given another reason."""

    kind: ChangeKind
    task_id: str
    reason: str
    """The pair's reason (a gained or flipped pair's new one)."""
    before_reason: str | None
    """The original pair's reason (None: gained)."""
    pair_id: str
    """The original pair's id (a gained pair's new one)."""
    chosen_id: str
    """The chosen sample (of the new pair when there is one)."""
    rejected_id: str
    why: list[str]
    """Why, in words."""


@dataclass(frozen=True, kw_only=True)
class RejudgeReport(Record):
    """A round judged again, compared with the original (see the module docstring)."""

    schema_version: int = REJUDGE_SCHEMA
    run: str
    round: int
    directory: str
    """Where the new executions, verdicts and pairs are, relative to the run directory."""
    made_at: str
    before: JudgeSource | None
    """The judges of the original pairs (None: made before pairs recorded their provenance)."""
    after: JudgeSource
    pairs_before: int
    pairs_after: int
    kept: int
    changes: list[PairChange]
    samples: int
    """Samples judged again."""
    verdicts_changed: list[SampleChange]

    def count(self, kind: ChangeKind) -> int:
        return sum(c.kind is kind for c in self.changes)
