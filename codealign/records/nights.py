"""The night records of a nightly lineage (`codealign.runs.nightly`).

- `Night`: ``night.json`` in a night's run directory, written when the night is created and
  again when it ends (schema `NIGHTS_SCHEMA`; a file without ``schema_version`` is version 1,
  the same layout);
- `NightRecord`: what ``GET /v1/nights`` publishes of a night: its `Night` plus figures read
  from its run (rounds, the promoted round, the held-out deltas of that round against the
  night's round 0, each a paired bootstrap `codealign.trainer.stats.Interval`).

Apart from the other records because `Interval`'s module loads numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from codealign.errors import InputError
from codealign.records.codec import Record
from codealign.trainer.stats import Interval

__all__ = ["NIGHTS_SCHEMA", "NOTHING_NEW", "Night", "NightRecord", "parse_night"]

NIGHTS_SCHEMA = 1
NOTHING_NEW = "nothing-new"
"""A night's status when nothing changed since the previous one (no run was made)."""


@dataclass(frozen=True, kw_only=True)
class Night(Record):
    """One night of a lineage, as ``night.json`` holds it."""

    schema_version: int = NIGHTS_SCHEMA
    lineage: str
    night: int
    """The night's number in its lineage (1, 2, ...)."""
    run: str | None = None
    """The night's run directory name (None: nothing new, no run)."""
    parent_run: str | None = None
    """The previous night's run, whose last promoted policy this night starts from."""
    trigger: str | None = None
    """``schedule`` or ``cli``."""
    slot: str | None = None
    """The scheduled time the night is for (ISO 8601, UTC)."""
    started_at: str | None = None
    finished_at: str | None = None
    status: str | None = None
    """The run's status (`codealign.runs.RunStatus`), or ``nothing-new``."""
    tasks: int = 0
    tasks_added: list[str] = field(default_factory=list)
    """Task ids the previous night did not have."""
    tasks_removed: list[str] = field(default_factory=list)
    submitted_tasks: list[str] = field(default_factory=list)
    """API-submitted tasks that joined the night."""
    submitted_clashes: list[str] = field(default_factory=list)
    """Submitted task ids left out because a configured task has the same id."""


@dataclass(frozen=True, kw_only=True)
class NightRecord(Night):
    """A night with the figures of its run."""

    resumed: int = 0
    """How many times the night's run was resumed after an interruption."""
    rounds: int = 0
    """Rounds decided (round 0 aside)."""
    promoted: bool = False
    promoted_round: int | None = None
    """The night's last promoted round (None: it promoted nothing)."""
    pass_at_1_delta: Interval | None = None
    """Held-out pass@1, promoted round − round 0: the task-mean of pass-rate differences."""
    secure_rate_delta: Interval | None = None
    """Held-out secure share of passes, promoted round − round 0, over tasks both pass."""


def parse_night(data: Mapping[str, Any], *, path: str | None = None) -> Night:
    """``night.json`` as a `Night`; another schema version than 1 is refused by name."""
    version = data.get("schema_version", 1)
    if version != NIGHTS_SCHEMA:
        raise InputError(f"written with night schema version {version!r}; this codealign reads "
                         f"version {NIGHTS_SCHEMA}", path=path, field="schema_version")
    return Night.from_dict(data, path=path)
