"""The promotion gate: keep a round's policy only if the held-out tasks show it is better.

The gate compares the candidate round's held-out outcomes with the incumbent's (the last
promoted policy; round 0 is the starting policy), task by task: both were evaluated on the
same tasks with the same sampling seeds. Every figure below is a paired bootstrap over those
tasks (`codealign.trainer.stats.paired_statistics`, the intervals the service publishes: 95%
by default, the same draws for every figure):

- ``pass@1``       Δ of the task-mean honest pass rate (higher is better);
- ``secure_rate``  Δ of the pooled share of honest passes with no medium+ finding;
- ``mean_cost``    the relative fall of the pooled mean cost, ``(old - new) / old``;
- ``composite``    ``w_pass * Δpass@1 + w_secure * Δsecure_rate + w_cost * cost fall``,
  computed inside each draw (a term whose figure is undefined in a draw counts 0).

A candidate is promoted when all hold:

1. **guards** — neither pass@1 nor the secure rate is down beyond its tolerance: the upper
   bound of its Δ interval is not below ``-pass_at_1_tolerance`` (``-secure_rate_tolerance``);
2. **tags** — with ``reject_tag_regressions``, no task tag regressed (below);
3. **effect** — the lower bound of the objective's gain interval exceeds ``min_improvement``
   (0: the interval excludes no gain).

Noise alone passes rule 3 nominally (1 - confidence) / 2 of the time, where comparing point
estimates passes it half the time: in simulated A/A rounds of the demo (35 held-out tasks, 16
samples each) this gate promoted 2.8% and the point rule 48%
(``benchmarks/gate_false_promotion.py``).

**Tags.** For every tag of the held-out tasks (``strings``, a habit ``habit:mktemp``, ...) the
decision records Δpass@1 and Δsecure rate over that tag's tasks with `stats.two_level`
intervals: a tag has few tasks (one to four per habit in the demo), too few for a task-only
bootstrap to see sampling noise, so each drawn task's samples are redrawn too. A tag
*regressed* when the upper bound of either Δ is below ``-tag_tolerance``. A regressed tag
flags the round; it rejects it only with ``reject_tag_regressions``. Many tags are tested at
once, so the tag tolerance is well above the overall ones: 0.15 flags 2-3% of the demo's
A/A rounds.

**Cost.** The mean cost is measured CPU time: it differs between machines and between runs,
so a positive ``w_cost`` (or the ``mean_cost`` objective) makes the decision depend on the
machine. The default weighs it 0, and the decision then holds no measured figure: two runs
with the same seeds decide the same on any machine.

**Limits.** With few held-out tasks (under ten or so) the task bootstrap's intervals are too
narrow, and one task gives a zero-width interval (the point rule).

`decide` is a pure function; the gate stage writes its `GateDecision` to ``decision.json``
and rounds.jsonl embeds it.

>>> cand = {f"t{i}": TaskOutcomes(16, 12, 12, 0.0, 0) for i in range(20)}
>>> inc = {f"t{i}": TaskOutcomes(16, 8, 8, 0.0, 0) for i in range(20)}
>>> decide(cand, inc, GateConfig()).promoted
True
>>> decide(inc, inc, GateConfig()).reason
'pass@1 gain +0.0000 [+0.0000, +0.0000]: the lower bound does not exceed 0.0'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from codealign.errors import InputError
from codealign.stage_config import Boolean, Number, stage_config
from codealign.trainer.stats import DEFAULT_RESAMPLES, Interval, paired_statistics, two_level

__all__ = ["Objective", "GateConfig", "TaskOutcomes", "TagDelta", "GateDecision", "decide",
           "read_outcomes", "count_outcomes"]


class Objective(str, Enum):
    """What a round must improve to be promoted."""

    PASS_AT_1 = "pass@1"
    SECURE_RATE = "secure_rate"
    MEAN_COST = "mean_cost"
    COMPOSITE = "composite"


_NonNegative = Annotated[Number, Field(ge=0)]


@stage_config
class GateConfig:
    """When a round is promoted (see the module docstring). Every field is checked."""

    objective: Objective = Objective.PASS_AT_1
    min_improvement: Number = 0.0
    """The lower bound of the objective's gain interval must exceed this (0: a gain whose
    interval excludes none). Negative: a non-inferiority margin (promote unless the gain may be
    below it), for a loop that should move on whenever the guards allow."""
    pass_at_1_tolerance: _NonNegative = 0.02
    """Reject when Δpass@1's upper bound is below minus this (absolute: 0.02 = two points)."""
    secure_rate_tolerance: _NonNegative = 0.02
    """Reject when Δsecure rate's upper bound is below minus this."""
    tag_tolerance: _NonNegative = 0.15
    """A tag regressed when the upper bound of its Δpass@1 or Δsecure rate is below minus this
    (in the demo's A/A rounds 0.15 flags 2-3% of rounds, 0.1 about 6%, 0.05 about 19%)."""
    reject_tag_regressions: Boolean = False
    """Reject a round with a regressed tag (False: flag it in the decision only)."""
    confidence: Annotated[Number, Field(ge=0.5, lt=1)] = 0.95
    """Of every interval (two-sided); noise clears a lower bound (1 - confidence) / 2 of the time."""
    w_pass: _NonNegative = 1.0
    w_secure: _NonNegative = 0.5
    w_cost: _NonNegative = 0.0
    """Weight of the relative cost fall in the composite; > 0 makes the decision depend on the
    machine (the cost is measured CPU time)."""

    @property
    def weighs_cost(self) -> bool:
        return self.objective is Objective.MEAN_COST or (self.objective is Objective.COMPOSITE
                                                         and self.w_cost > 0)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["objective"] = self.objective.value
        return d


# ---------------------------------------------------------------------------------------------
# What the gate reads: one policy's held-out outcomes, counted per task


@dataclass(frozen=True)
class TaskOutcomes:
    """One policy's held-out outcomes on one task, counted."""

    samples: int
    passed: int          # honest passes
    secure: int          # honest passes with no medium+ finding (an unscanned pass is not secure)
    cost_sum: float      # of honest passes with a measured cost
    costed: int

    def kinds(self) -> tuple[int, int, int]:
        """(failed, secure passes, other passes): what `stats.two_level` redraws."""
        return self.samples - self.passed, self.secure, self.passed - self.secure


def count_outcomes(rows: Iterable[Mapping[str, Any]]) -> dict[str, TaskOutcomes]:
    """Per task, the counts of ``outcomes.jsonl`` lines (``task_id``, ``honest``, ``secure``,
    ``cost``), the lines the evaluate stage writes.

    >>> count_outcomes([{"task_id": "t", "honest": True, "secure": True, "cost": 2.0},
    ...                 {"task_id": "t", "honest": False, "secure": None, "cost": None}])
    {'t': TaskOutcomes(samples=2, passed=1, secure=1, cost_sum=2.0, costed=1)}
    """
    counts: dict[str, list] = {}
    for row in rows:
        c = counts.setdefault(row["task_id"], [0, 0, 0, 0.0, 0])
        c[0] += 1
        if row["honest"]:
            c[1] += 1
            c[2] += row["secure"] is True
            if row["cost"] is not None:
                c[3] += row["cost"]
                c[4] += 1
    return {t: TaskOutcomes(*c) for t, c in counts.items()}


def read_outcomes(path: str | Path) -> dict[str, TaskOutcomes]:
    """`count_outcomes` of an ``outcomes.jsonl`` file; a line without the fields is an
    `InputError` naming the file and line."""
    from codealign.jsonl import read_jsonl

    rows = []
    for line, row in read_jsonl(Path(path)):
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str) \
                or not isinstance(row.get("honest"), bool) or "secure" not in row or "cost" not in row:
            raise InputError("an outcome needs task_id, honest, secure and cost", path=str(path), line=line)
        rows.append(row)
    return count_outcomes(rows)


# ---------------------------------------------------------------------------------------------
# The decision record


@dataclass(frozen=True)
class TagDelta:
    """Δ of one task tag's held-out figures (candidate − incumbent) with `two_level` intervals."""

    tag: str
    tasks: int
    pass_at_1: Interval
    secure_rate: Interval
    regressed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "tasks": self.tasks, "pass_at_1": self.pass_at_1.to_dict(),
                "secure_rate": self.secure_rate.to_dict(), "regressed": self.regressed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TagDelta":
        return cls(d["tag"], d["tasks"], Interval.from_dict(d["pass_at_1"]),
                   Interval.from_dict(d["secure_rate"]), d["regressed"])


@dataclass(frozen=True)
class GateDecision:
    """The gate's decision on a round (``round-k/gate/decision.json``, embedded in rounds.jsonl).

    Every Δ is candidate − incumbent on the held-out tasks, an `Interval` as published (six
    decimals); None where the candidate was not evaluated (no training) or a figure is not part
    of the decision (`cost_reduction` unless the objective weighs cost).
    """

    SCHEMA: ClassVar[int] = 2
    """Version of the record (1: the point-estimate gate's: status, reason, objective, delta,
    pass_at_1_delta, incumbent_round)."""

    promoted: bool
    reason: str
    objective: Objective
    incumbent_round: int
    gain: Interval | None = None              # the objective's gain (positive = better)
    pass_at_1: Interval | None = None
    secure_rate: Interval | None = None
    cost_reduction: Interval | None = None    # relative fall of the mean cost
    tags: tuple[TagDelta, ...] = ()

    @property
    def status(self) -> str:
        return "promoted" if self.promoted else "rejected"

    @property
    def regressed_tags(self) -> tuple[str, ...]:
        """Tags beyond the tag tolerance: the round is flagged when there is any."""
        return tuple(t.tag for t in self.tags if t.regressed)

    def to_dict(self) -> dict[str, Any]:
        def iv(value: Interval | None) -> dict[str, Any] | None:
            return None if value is None else value.to_dict()

        return {"schema": self.SCHEMA, "status": self.status, "promoted": self.promoted,
                "reason": self.reason, "objective": self.objective.value,
                "incumbent_round": self.incumbent_round, "gain": iv(self.gain),
                "pass_at_1": iv(self.pass_at_1), "secure_rate": iv(self.secure_rate),
                "cost_reduction": iv(self.cost_reduction), "tags": [t.to_dict() for t in self.tags],
                "regressed_tags": list(self.regressed_tags)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GateDecision":
        """The record `to_dict` wrote (``from_dict(to_dict(x)) == x``), or a schema-1 record
        (its point figures are not intervals and are left out)."""
        schema = d.get("schema", 1)
        if schema not in (1, cls.SCHEMA):
            raise InputError(f"a gate decision of schema {schema!r} (this code reads 1 and {cls.SCHEMA})",
                             field="schema")
        if schema == 1:
            return cls(d["promoted"], d["reason"], Objective(d["objective"]), d.get("incumbent_round", 0))

        def iv(value: Mapping[str, Any] | None) -> Interval | None:
            return None if value is None else Interval.from_dict(value)

        return cls(d["promoted"], d["reason"], Objective(d["objective"]), d["incumbent_round"],
                   iv(d["gain"]), iv(d["pass_at_1"]), iv(d["secure_rate"]), iv(d["cost_reduction"]),
                   tuple(TagDelta.from_dict(t) for t in d["tags"]))

    @classmethod
    def not_evaluated(cls, reason: str, config: GateConfig, incumbent_round: int) -> "GateDecision":
        """A round with nothing to evaluate (it did not train): rejected for `reason`."""
        return cls(False, reason, config.objective, incumbent_round)


# ---------------------------------------------------------------------------------------------
# The decision

# Columns of a task's row: pass rate, passes, secure passes, cost sum, costed passes.
_RATE, _PASSED, _SECURE, _COST, _COSTED = range(5)


def _row(o: TaskOutcomes) -> list[float]:
    return [o.passed / o.samples, o.passed, o.secure, o.cost_sum, o.costed]


def _pass_delta(sa: np.ndarray, sb: np.ndarray, n: int) -> np.ndarray:
    return (sb[..., _RATE] - sa[..., _RATE]) / n


def _secure_delta(sa: np.ndarray, sb: np.ndarray, n: int) -> np.ndarray:
    return sb[..., _SECURE] / sb[..., _PASSED] - sa[..., _SECURE] / sa[..., _PASSED]


def _cost_fall(sa: np.ndarray, sb: np.ndarray, n: int) -> np.ndarray:
    old, new = sa[..., _COST] / sa[..., _COSTED], sb[..., _COST] / sb[..., _COSTED]
    return np.where(old > 0, (old - new) / old, np.nan)


def _fmt(iv: Interval) -> str:
    if iv.value is None:
        return "undefined"
    low = "?" if iv.low is None else f"{iv.low:+.4f}"
    high = "?" if iv.high is None else f"{iv.high:+.4f}"
    return f"{iv.value:+.4f} [{low}, {high}]"


def _tag_deltas(candidate: Mapping[str, TaskOutcomes], incumbent: Mapping[str, TaskOutcomes],
                tasks: Sequence[str], tags: Mapping[str, Sequence[str]], config: GateConfig) -> tuple[TagDelta, ...]:
    by_tag: dict[str, list[str]] = {}
    for t in tasks:
        for tag in tags.get(t, ()):
            by_tag.setdefault(tag, []).append(t)

    def pass_delta(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        rate = lambda c: ((c[..., 1] + c[..., 2]) / c.sum(axis=-1)).mean(axis=-1)  # noqa: E731
        return rate(cb) - rate(ca)

    def secure_delta(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        share = lambda c: c[..., 1].sum(-1) / (c[..., 1] + c[..., 2]).sum(-1)  # noqa: E731
        return share(cb) - share(ca)

    out = []
    for tag in sorted(by_tag):
        members = by_tag[tag]
        a = np.array([incumbent[t].kinds() for t in members])
        b = np.array([candidate[t].kinds() for t in members])
        deltas = two_level(a, b, {"pass": pass_delta, "secure": secure_delta}, confidence=config.confidence)
        p, s = deltas["pass"].rounded(), deltas["secure"].rounded()
        regressed = any(iv.high is not None and iv.high < -config.tag_tolerance for iv in (p, s))
        out.append(TagDelta(tag, len(members), p, s, regressed))
    return tuple(out)


def decide(candidate: Mapping[str, TaskOutcomes], incumbent: Mapping[str, TaskOutcomes],
           config: GateConfig, *, tags: Mapping[str, Sequence[str]] | None = None,
           incumbent_round: int = 0) -> GateDecision:
    """Promote or reject `candidate` against `incumbent` (per held-out task, `TaskOutcomes`),
    over the tasks both have; `tags` maps a task to its tags (for the per-tag deltas)."""
    tasks = sorted(set(candidate) & set(incumbent))
    if not tasks:
        return GateDecision(False, "no held-out task was evaluated for both policies", config.objective,
                            incumbent_round)
    a = np.array([_row(incumbent[t]) for t in tasks], dtype=float)
    b = np.array([_row(candidate[t]) for t in tasks], dtype=float)

    def composite(sa: np.ndarray, sb: np.ndarray, n: int) -> np.ndarray:
        total = (config.w_pass * _pass_delta(sa, sb, n)
                 + config.w_secure * np.nan_to_num(_secure_delta(sa, sb, n)))
        if config.w_cost > 0:
            total = total + config.w_cost * np.nan_to_num(_cost_fall(sa, sb, n))
        return total

    statistics = {"pass@1": _pass_delta, "secure_rate": _secure_delta}
    if config.weighs_cost:
        statistics["mean_cost"] = _cost_fall
    if config.objective is Objective.COMPOSITE:
        statistics["composite"] = composite
    intervals = {name: iv.rounded() for name, iv in paired_statistics(
        a, b, statistics, resamples=DEFAULT_RESAMPLES, confidence=config.confidence).items()}
    pass_iv, secure_iv, cost_iv = intervals["pass@1"], intervals["secure_rate"], intervals.get("mean_cost")
    gain = intervals[config.objective.value]
    tag_deltas = _tag_deltas(candidate, incumbent, tasks, tags or {}, config)
    regressed = [t.tag for t in tag_deltas if t.regressed]

    def record(promoted: bool, reason: str) -> GateDecision:
        if regressed and not config.reject_tag_regressions:
            reason += f"; flagged: tag(s) {', '.join(regressed)} regressed beyond {config.tag_tolerance}"
        return GateDecision(promoted, reason, config.objective, incumbent_round, gain, pass_iv, secure_iv,
                            cost_iv, tag_deltas)

    for name, iv, tolerance in (("pass@1", pass_iv, config.pass_at_1_tolerance),
                                ("secure rate", secure_iv, config.secure_rate_tolerance)):
        if iv.high is not None and iv.high < -tolerance:
            return record(False, f"{name} fell: Δ {_fmt(iv)}, the upper bound is below -{tolerance}")
    if regressed and config.reject_tag_regressions:
        return record(False, f"tag(s) {', '.join(regressed)} regressed: the upper bound of Δpass@1 or "
                             f"Δsecure rate is below -{config.tag_tolerance}")
    name = config.objective.value
    if gain.low is None:
        return record(False, f"{name} cannot be compared (undefined for one policy: {_fmt(gain)})")
    if gain.low > config.min_improvement:
        return record(True, f"{name} gain {_fmt(gain)}: the lower bound exceeds {config.min_improvement}; "
                            f"pass@1 Δ {_fmt(pass_iv)}")
    return record(False, f"{name} gain {_fmt(gain)}: the lower bound does not exceed {config.min_improvement}")
