"""Adaptive sampling: a round's budget spread over its train tasks by what earlier rounds saw.

Most of a round's samples are wasted on tasks the policy already gets right one way: every
sample passes, clean, as the same program, and no pair can come of them. The sample stage
therefore asks, per train task, what the last round that sampled it saw (its verdicts in
``round-j/judge/verdicts.jsonl``; `TaskState`) and spreads the budget accordingly, on policy
and per round, in the spirit of the difficulty filters of PRIME and DeepCoder:

- a **settled** task (every sample an honest, clean pass, one distinct program) gets
  ``settled`` samples (1 by default: enough to notice it come undone; 0 skips it, and the
  next round sees it as new);
- every other task — **unsolved** (no pass), **mixed** (passes and failures), **flagged** (a
  finding on a pass: bandit found it insecure, its scan failed, or it ran clearly more
  operations than the reference), **varied** (clean passes, several distinct programs),
  **new** (no earlier round sampled it) — shares the rest by its state's weight, one sample at
  a time to the task with the fewest samples per weight (ties: task order), up to ``cap``;
- what the cap leaves over goes to the settled tasks the same way (unless ``settled`` is 0);
  past that it is not spent.

Round 1 has no history: every task gets ``sampling.n`` (so does ``mode: even``). The budget is
``sampling.n`` × the round's train tasks unless ``budget`` says otherwise: by default a round
draws as many samples as before, spread differently.

Nothing here reads a measured figure: passes, bandit's findings and the operation count
(`codealign.sandbox.execution.Cost.ops`, a count of line events) are the same on any machine,
so two runs with the same seeds allocate the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, Field

from codealign.errors import ConfigError
from codealign.records.allocation import Allocation, AllocationMode, TaskAllocation, TaskState
from codealign.stage_config import Integer, Number, stage_config

__all__ = ["AllocationConfig", "TaskHistory", "task_history", "allocate"]

_WEIGHTED = (TaskState.NEW, TaskState.UNSOLVED, TaskState.MIXED, TaskState.FLAGGED, TaskState.VARIED)


def _weighted(state: str) -> str:
    if state not in _WEIGHTED:
        raise ValueError(f"unknown state (known: {', '.join(_WEIGHTED)})")
    return state


@stage_config
class AllocationConfig:
    """How the sample stage spreads a round's samples (the run config's ``allocation`` section).

    Attributes:
        mode: ``adaptive`` (by each task's history) or ``even`` (``sampling.n`` per task).
        budget: samples per round over its train tasks (None: ``sampling.n`` × tasks).
        settled: samples for a settled task (0: none).
        cap: the most samples one task gets (None: 2 × ``sampling.n``).
        weights: share of the budget per state, for the states other than settled (a state
            left out weighs 1; 0 gives its tasks nothing beyond the settled ones' leftovers).
    """

    mode: AllocationMode = AllocationMode.ADAPTIVE
    budget: Annotated[Integer, Field(ge=1)] | None = None
    settled: Annotated[Integer, Field(ge=0)] = 1
    cap: Annotated[Integer, Field(ge=1)] | None = None
    weights: dict[Annotated[str, AfterValidator(_weighted)], Annotated[Number, Field(ge=0)]] = \
        field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cap is not None and self.cap < self.settled:
            raise ConfigError(f"must be at least settled ({self.settled}), got {self.cap!r}", field="cap")

    def weight(self, state: TaskState) -> float:
        return float(self.weights.get(state.value, 1.0))


@dataclass(frozen=True)
class TaskHistory:
    """What one round's samples of one task showed (`task_history`)."""

    round: int
    seen: int
    passed: int
    programs: int
    findings: int

    @property
    def state(self) -> TaskState:
        if self.passed == 0:
            return TaskState.UNSOLVED
        if self.passed < self.seen:
            return TaskState.MIXED
        if self.findings:
            return TaskState.FLAGGED
        return TaskState.VARIED if self.programs > 1 else TaskState.SETTLED

    def describe(self) -> str:
        state = self.state
        counts = f"{self.passed}/{self.seen} passed in round {self.round}"
        if state is TaskState.FLAGGED:
            return f"{counts}, {self.findings} with a finding"
        if state in (TaskState.VARIED, TaskState.SETTLED):
            return f"{counts}, clean, {self.programs} distinct program{'s' if self.programs > 1 else ''}"
        return counts


def _finding(verdict, slow_ratio: float) -> bool:
    """A passing sample bandit found insecure, whose scan failed, or that ran `slow_ratio`
    times the reference's operations or more (the op count: deterministic, unlike CPU time)."""
    if verdict.secure is not True:
        return True
    efficiency = verdict.scores.get("efficiency")
    if efficiency is None or not efficiency.ok or efficiency.details.get("baseline_source") != "reference":
        return False
    return efficiency.details.get("ops_ratio", 0.0) >= slow_ratio


def task_history(verdicts: Iterable, round_no: int, slow_ratio: float) -> dict[str, TaskHistory]:
    """Per task, what round `round_no`'s verdicts (`codealign.judges.verdict.Verdict`) showed;
    a sample whose sandbox was lost is not counted (a task with only such samples has none)."""
    from codealign.judges.pairs import code_key

    groups: dict[str, list] = {}
    for v in verdicts:
        if not v.execution.infrastructure_error:
            groups.setdefault(v.task_id, []).append(v)
    out = {}
    for task_id, group in groups.items():
        passing = [v for v in group if v.passed]
        out[task_id] = TaskHistory(round_no, len(group), len(passing), len({code_key(v.code) for v in group}),
                                   sum(_finding(v, slow_ratio) for v in passing))
    return out


def allocate(task_ids: Sequence[str], history: Mapping[str, TaskHistory], config: AllocationConfig,
             n: int) -> Allocation:
    """The round's `Allocation` of `task_ids` (in their order) given each task's latest
    `history` (none: round 1) and ``sampling.n`` = `n` (see the module docstring).

    >>> h = {"a": TaskHistory(1, 4, 4, 1, 0), "b": TaskHistory(1, 4, 2, 3, 0), "c": TaskHistory(1, 4, 0, 4, 0)}
    >>> allocate(["a", "b", "c"], h, AllocationConfig(), 4).counts
    {'a': 1, 'b': 6, 'c': 5}
    >>> allocate(["a", "b", "c"], {}, AllocationConfig(), 4).counts
    {'a': 4, 'b': 4, 'c': 4}
    """
    budget = config.budget if config.budget is not None else n * len(task_ids)
    cap = config.cap if config.cap is not None else 2 * n
    if config.mode is AllocationMode.EVEN or not history:
        why = "even (allocation.mode)" if config.mode is AllocationMode.EVEN else "even (no earlier round)"
        share = _even(len(task_ids), budget, cap)
        rows = []
        for t, k in zip(task_ids, share):
            h = history.get(t)
            rows.append(_row(t, h, k, why, cap))
        return Allocation(mode=config.mode, budget=budget, cap=cap, tasks=tuple(rows))

    states = {t: history[t].state if t in history else TaskState.NEW for t in task_ids}
    counts = {t: 0 for t in task_ids}
    settled = [t for t in task_ids if states[t] is TaskState.SETTLED]
    left = budget
    for t in settled:
        counts[t] = give = min(config.settled, left, cap)
        left -= give
    active = [t for t in task_ids if states[t] is not TaskState.SETTLED and config.weight(states[t]) > 0]
    left = _fill(counts, active, {t: config.weight(states[t]) for t in active}, left, cap)
    if config.settled:                          # (0: none at all for them)
        _fill(counts, settled, {t: 1.0 for t in settled}, left, cap)

    rows = []
    for t in task_ids:
        state = states[t]
        why = f"{state.value}: " + (history[t].describe() if t in history else "no earlier round sampled it")
        rows.append(_row(t, history.get(t), counts[t], why, cap))
    return Allocation(mode=config.mode, budget=budget, cap=cap, tasks=tuple(rows))


def _row(task_id: str, h: TaskHistory | None, samples: int, why: str, cap: int) -> TaskAllocation:
    state = TaskState.NEW if h is None else h.state
    note = f"{why} -> {samples} sample{'' if samples == 1 else 's'}" + (" (the cap)" if samples == cap else "")
    if h is None:
        return TaskAllocation(task_id=task_id, state=state, samples=samples, history_round=None, reason=note)
    return TaskAllocation(task_id=task_id, state=state, samples=samples, history_round=h.round, seen=h.seen,
                          passed=h.passed, programs=h.programs, findings=h.findings, reason=note)


def _even(tasks: int, budget: int, cap: int) -> list[int]:
    """`budget` spread evenly (the first tasks get one more when it does not divide), at most `cap`."""
    if not tasks:
        return []
    base, extra = divmod(budget, tasks)
    return [min(cap, base + (i < extra)) for i in range(tasks)]


def _fill(counts: dict[str, int], tasks: Sequence[str], weights: Mapping[str, float], left: int, cap: int) -> int:
    """Give `left` samples to `tasks` one at a time, each to the task with the fewest samples per
    weight (ties: the earlier task), none beyond `cap`; return what is left."""
    import heapq

    heap = [(counts[t] / weights[t], i, t) for i, t in enumerate(tasks) if counts[t] < cap and weights[t] > 0]
    heapq.heapify(heap)
    while left > 0 and heap:
        _, i, t = heapq.heappop(heap)
        counts[t] += 1
        left -= 1
        if counts[t] < cap:
            heapq.heappush(heap, (counts[t] / weights[t], i, t))
    return left
