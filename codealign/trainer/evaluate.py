"""Evaluation of a policy on held-out tasks: pass@k, secure rate, cost and length.

Held-out split: a task is held out when ``sha256(f"{seed}:{task_id}")`` read as a fraction in
[0, 1) is below ``heldout_fraction``. The rule depends only on the task id and the seed, so
adding tasks never moves an existing task between the splits. When the fraction is positive
but no task falls below it, the task with the smallest hash is held out; when every task
does, the one with the largest hash trains — both splits are non-empty whenever there are
two or more tasks. The rule and the resulting ids are recorded by the loop.

With tags (`split_tasks_by_tags`, what `EvalConfig.heldout_tags` and `strata_prefix` ask for):
a task carrying one of ``heldout_tags`` is always held out (a *control*: e.g. a whole habit no
training task has); the others are grouped by their tag starting with ``strata_prefix`` (e.g.
``habit:``; tasks without one form one group) and the same threshold rule, with the same
at-least-one-on-each-side fallback, runs within each group, so every group is held out at
about `heldout_fraction` and none is left without a held-out or a training task. Each task's
side still depends only on its id, its tags and the seed (the fallback aside).

pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
Trained on Code", fig. 3) in its numerically stable product form: with n samples of which c
pass, ``pass@k = 1 - prod_{i=n-c+1}^{n} (1 - k / i)``; it is 1 when ``n - c < k``. The
overall figure is the mean over tasks.

Secure rate: among passing samples, the share with no bandit finding of severity MEDIUM or
HIGH (the security judge, `codealign.judges.security`). A sample the security judge could
not scan counts as not secure (an unknown is never trusted) and is counted in
``security_unknown``. Mean cost is over passing samples, in the unit the caller names
(``cost_unit``, by default `codealign.judges.efficiency.COST_UNIT`: seconds of ``cost_s``).
Mean tokens is over all
samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from codealign.errors import ConfigError
from codealign.judges.efficiency import COST_UNIT
from codealign.judges.rules import has_insecure_finding
from codealign.stage_config import LISTED, Integer, Number, Text, stage_config

__all__ = ["EvalConfig", "Outcome", "TaskMetrics", "EvalReport", "split_tasks",
           "split_tasks_by_tags", "pass_at_k", "is_secure", "mean", "evaluate"]


@stage_config
class EvalConfig:
    """How held-out evaluation samples and scores."""

    heldout_fraction: Annotated[Number, Field(gt=0, lt=1)] = 0.25
    """Share of tasks held out of training (see the module docstring for the rule)."""
    split_seed: Integer = 0
    n_samples: Annotated[Integer, Field(ge=1)] = 10
    """Samples drawn per held-out task."""
    k: Annotated[list[Annotated[Integer, Field(ge=1)]], LISTED, Field(min_length=1),
                 AfterValidator(lambda k: sorted(set(k)))] = field(default_factory=lambda: [1, 5, 10])
    """The k of each pass@k reported (each at most n_samples)."""
    temperature: Annotated[Number, Field(ge=0)] = 0.8
    heldout_tags: list[Text] = field(default_factory=list)
    """Tasks carrying any of these tags are always held out (controls: nothing trains on them)."""
    strata_prefix: Text | None = None
    """When set (e.g. ``"habit:"``), the held-out rule runs within each group of tasks sharing
    the tag that starts with it, so each group is held out at about `heldout_fraction`."""

    def __post_init__(self) -> None:
        if max(self.k) > self.n_samples:
            raise ConfigError(f"each k must be at most n_samples ({self.n_samples}), got {self.k!r}", field="k")

    def split(self, tasks: Sequence[Any]) -> tuple[list[str], list[str]]:
        """(train ids, held-out ids) of `tasks` (objects with ``task_id`` and ``tags``) by this
        config's rule: `split_tasks_by_tags` when tags matter, else `split_tasks`."""
        if not self.heldout_tags and self.strata_prefix is None:
            return _threshold_split([t.task_id for t in tasks], self.heldout_fraction, self.split_seed)
        return split_tasks_by_tags([(t.task_id, t.tags) for t in tasks], self.heldout_fraction,
                                   self.split_seed, self.heldout_tags, self.strata_prefix)

    def split_rule(self) -> str:
        """The rule `split` applies, in words (recorded beside the split)."""
        rule = ("held out iff sha256(f'{seed}:{task_id}')[:8] / 2**64 < fraction "
                "(at least one task on each side")
        if self.strata_prefix is not None:
            rule += f", within each group of tasks sharing a tag starting with {self.strata_prefix!r}"
        rule += ")"
        if self.heldout_tags:
            rule += f"; tasks tagged any of {self.heldout_tags} are always held out"
        return rule

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _unit_hash(task_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_tasks(task_ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train ids, held-out ids), each in the input order, by the seeded hash rule.

    >>> train, held = split_tasks([f"t{i}" for i in range(100)], 0.2, seed=0)
    >>> len(train) + len(held), 10 < len(held) < 30
    (100, True)
    >>> split_tasks(["a", "b"], 0.01, seed=0)[1] != []
    True
    """
    return _threshold_split(task_ids, fraction, seed)


def _threshold_split(task_ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    ids = list(dict.fromkeys(task_ids))
    hashes = {t: _unit_hash(t, seed) for t in ids}
    held = {t for t in ids if hashes[t] < fraction}
    if len(ids) >= 2:
        if not held:
            held = {min(ids, key=hashes.__getitem__)}
        elif len(held) == len(ids):
            held.discard(max(ids, key=hashes.__getitem__))
    return [t for t in ids if t not in held], [t for t in ids if t in held]


def split_tasks_by_tags(tagged: Sequence[tuple[str, Sequence[str]]], fraction: float, seed: int,
                        heldout_tags: Sequence[str] = (), strata_prefix: str | None = None
                        ) -> tuple[list[str], list[str]]:
    """(train ids, held-out ids) of ``(task_id, tags)`` pairs, each in the input order: tasks
    with a tag in `heldout_tags` are held out; the others split by `split_tasks`'s rule within
    each stratum (the tag starting with `strata_prefix`; one stratum when it is None).

    >>> tagged = [(f"t{i}", ["habit:a" if i % 2 else "habit:b"]) for i in range(40)]
    >>> tagged += [("c1", ["habit:c"]), ("c2", ["habit:c"])]
    >>> train, held = split_tasks_by_tags(tagged, 0.25, 0, ["habit:c"], "habit:")
    >>> {"c1", "c2"} <= set(held), any(t in train for t, _ in tagged[0:40:2]), len(train) + len(held)
    (True, True, 42)
    """
    control = set(heldout_tags)
    strata: dict[str | None, list[str]] = defaultdict(list)
    held: set[str] = set()
    ids = []
    for task_id, tags in tagged:
        if task_id in ids:
            continue
        ids.append(task_id)
        if control & set(tags):
            held.add(task_id)
            continue
        key = None if strata_prefix is None else next(
            (t for t in tags if t.startswith(strata_prefix)), None)
        strata[key].append(task_id)
    for members in strata.values():
        held.update(_threshold_split(members, fraction, seed)[1])
    return [t for t in ids if t not in held], [t for t in ids if t in held]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021), stable product form.

    >>> pass_at_k(10, 0, 1), pass_at_k(10, 10, 5), round(pass_at_k(10, 3, 1), 6)
    (0.0, 1.0, 0.3)
    >>> round(pass_at_k(5, 2, 2), 4)   # 1 - C(3,2)/C(5,2) = 1 - 3/10
    0.7
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def is_secure(findings: Iterable[dict[str, Any]]) -> bool:
    """No bandit finding at MEDIUM severity or above (`codealign.judges.rules`)."""
    return not has_insecure_finding(findings)


@dataclass(frozen=True)
class Outcome:
    """What evaluation needs to know about one sample."""

    task_id: str
    passed: bool
    secure: bool | None = None     # None: not passing, or the security judge failed
    cost: float | None = None      # of a passing sample, in `cost_unit`
    tokens: int = 0


@dataclass
class TaskMetrics:
    task_id: str
    n: int
    passed: int
    pass_at: dict[str, float]
    secure_rate: float | None
    mean_cost: float | None
    mean_tokens: float


@dataclass
class EvalReport:
    """Overall and per-task figures of one policy on the held-out tasks."""

    pass_at: dict[str, float]          # "1", "5", ... -> mean over tasks
    secure_rate: float | None          # secure passing / passing; None when nothing passed
    secure_pass_rate: float            # secure passing / all samples
    mean_cost: float | None
    cost_unit: str
    mean_tokens: float
    samples: int
    passing: int
    security_unknown: int
    tasks: list[TaskMetrics]

    @property
    def pass_at_1(self) -> float:
        return self.pass_at["1"]

    def headline(self) -> dict[str, Any]:
        """The overall figures only (what rounds.jsonl and the gate use)."""
        d = self.to_dict()
        d.pop("tasks")
        d["pass@1"] = self.pass_at.get("1")
        return d

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EvalReport":
        d = dict(d)
        d["tasks"] = [TaskMetrics(**t) for t in d["tasks"]]
        return cls(**d)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are known (None is left out); None when none is.

    >>> mean([1.0, None, 2.0]), mean([None]), mean([])
    (1.5, None, None)
    """
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def evaluate(outcomes: Sequence[Outcome], ks: Sequence[int], cost_unit: str = COST_UNIT,
             task_ids: Sequence[str] | None = None) -> EvalReport:
    """Score outcomes per task and overall. `task_ids`, when given, fixes the task list (a task
    with no outcome is an error: every held-out task must have been sampled)."""
    by_task: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_task[o.task_id].append(o)
    ids = list(task_ids) if task_ids is not None else sorted(by_task)
    missing = [t for t in ids if not by_task.get(t)]
    if missing:
        raise ValueError(f"no samples for task(s) {missing}")
    if not ids:
        raise ValueError("nothing to evaluate")
    tasks = []
    for t in ids:
        group = by_task[t]
        n, c = len(group), sum(o.passed for o in group)
        passing = [o for o in group if o.passed]
        tasks.append(TaskMetrics(
            task_id=t, n=n, passed=c,
            pass_at={str(k): pass_at_k(n, c, k) for k in ks if k <= n},
            secure_rate=mean([1.0 if o.secure else 0.0 for o in passing]),
            mean_cost=mean([o.cost for o in passing]),
            mean_tokens=mean([o.tokens for o in group]) or 0.0))
    every = [o for t in ids for o in by_task[t]]
    passing = [o for o in every if o.passed]
    pass_at = {}
    for k in ks:
        values = [m.pass_at[str(k)] for m in tasks if str(k) in m.pass_at]
        if len(values) == len(tasks):
            pass_at[str(k)] = sum(values) / len(values)
    return EvalReport(
        pass_at=pass_at,
        secure_rate=mean([1.0 if o.secure else 0.0 for o in passing]),
        secure_pass_rate=sum(1 for o in passing if o.secure) / len(every),
        mean_cost=mean([o.cost for o in passing]),
        cost_unit=cost_unit,
        mean_tokens=mean([o.tokens for o in every]) or 0.0,
        samples=len(every), passing=len(passing),
        security_unknown=sum(1 for o in passing if o.secure is None),
        tasks=tasks)
