"""How a round spread its sampling budget over its train tasks: ``round-k/sample/allocation.json``.

The sample stage writes an `Allocation` (`codealign.runs.allocation.allocate` makes it): per
train task, what the last round that sampled it saw (`TaskState`, with the counts behind it)
and how many samples it gets now, with the reason in words. The round record carries its
`AllocationSummary` (samples and tasks per state).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from codealign.records.codec import Record

__all__ = ["ALLOCATION_SCHEMA", "AllocationMode", "TaskState", "TaskAllocation", "Allocation",
           "AllocationSummary"]

ALLOCATION_SCHEMA = 1


class AllocationMode(enum.StrEnum):
    """How the budget is spread."""

    EVEN = "even"              # the same number of samples for every task
    ADAPTIVE = "adaptive"      # by what the last round that sampled each task saw


class TaskState(enum.StrEnum):
    """What the last round that sampled a task saw there (a sample whose sandbox was lost is
    not counted; a *finding* is a passing sample that bandit found insecure, whose security
    scan failed, or that ran clearly more operations than the reference)."""

    NEW = "new"                # no earlier round of the run sampled it (round 1: every task)
    UNSOLVED = "unsolved"      # no sample passed honestly
    MIXED = "mixed"            # some passed, some did not
    FLAGGED = "flagged"        # every sample passed; a judge found something in one
    VARIED = "varied"          # every sample passed clean, as several distinct programs
    SETTLED = "settled"        # every sample passed clean, as one program: no pair can come of it


@dataclass(frozen=True, kw_only=True)
class TaskAllocation(Record):
    """One train task's share of the round's samples, and why."""

    task_id: str
    state: TaskState
    samples: int
    """Samples drawn for it this round."""
    history_round: int | None
    """The round whose samples decided `state` (None: no earlier round sampled it)."""
    seen: int = 0
    """Samples of that round counted (its lost sandboxes aside)."""
    passed: int = 0
    """Of them, honest passes."""
    programs: int = 0
    """Distinct programs among them (`codealign.judges.pairs.code_key`)."""
    findings: int = 0
    """Honest passes with a finding (see `TaskState`)."""
    reason: str = ""
    """The state and the allocation in words."""


@dataclass(frozen=True, kw_only=True)
class AllocationSummary(Record):
    """The allocation in brief (the round record's ``allocation``)."""

    mode: AllocationMode
    budget: int
    """Samples the round could draw."""
    samples: int
    """Samples it drew (less than `budget` only when every task reached the cap)."""
    cap: int
    """The most samples one task could get."""
    tasks_by_state: dict[str, int]
    samples_by_state: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class Allocation(Record):
    """``round-k/sample/allocation.json``: the round's allocation, task by task (in the order
    the tasks were sampled)."""

    schema_version: int = ALLOCATION_SCHEMA
    mode: AllocationMode
    budget: int
    cap: int
    tasks: tuple[TaskAllocation, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Samples per task id."""
        return {t.task_id: t.samples for t in self.tasks}

    def summary(self) -> AllocationSummary:
        tasks: Counter[str] = Counter()
        samples: Counter[str] = Counter()
        for t in self.tasks:
            tasks[t.state.value] += 1
            samples[t.state.value] += t.samples
        order = [s.value for s in TaskState]
        return AllocationSummary(mode=self.mode, budget=self.budget, samples=sum(samples.values()), cap=self.cap,
                                 tasks_by_state={s: tasks[s] for s in order if tasks[s]},
                                 samples_by_state={s: samples[s] for s in order if tasks[s]})
