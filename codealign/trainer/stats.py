"""Uncertainty of the published figures: percentile bootstrap over tasks, paired.

Every delta that codealign publishes (the demo's table, the API's pass-rate metrics, the
dashboard) is a difference between two policies evaluated on the *same* tasks with the *same*
sampling seeds. The unit of resampling is the task, not the sample: samples of one task are
correlated (one task is hard for every sample), so resampling samples would make the interval
too narrow. Pairing means each bootstrap draw picks task indices once and uses them for both
policies, so a task that is hard for both cancels out.

One definition, used everywhere:

- ``delta_mean(a, b)``: Δ of the task-mean of a per-task figure (pass@1 per task is its pass
  rate), b − a, over the tasks both have;
- ``ratio_of_shares(a, b)``: the ratio of two pooled shares, e.g. the insecure share of
  passing samples (insecure passes / passes, pooled over tasks), b / a;
- ``wilson(k, n)``: a proportion of n trials (a judge's agreement with reviewers), with its
  Wilson score interval (no resampling).

Both are cases of `paired_statistic` (`paired_statistics` for several at once): any figure
computed from per-task sums (a task-mean, a pooled share, a weighted sum of such deltas: the
promotion gate's composite) over the same draws. Each returns an `Interval` (point estimate, 2.5th and 97.5th percentiles of the bootstrap
distribution for 95%, the number of tasks and resamples). Draws come from a seeded generator:
the same inputs always give the same interval, and every figure over the same n tasks uses
the same draws.

Few tasks (a task tag with two held-out tasks) say nothing about sampling noise when only
tasks are resampled: ``two_level`` also resamples each drawn task's samples (from its counts
of outcome kinds), each policy on its own. It is the wider of the two for the same data: the
between-task spread already holds the sampling noise once, and the samples' pairing by seed
is not used.

>>> iv = delta_mean({"t1": 0.0, "t2": 0.5, "t3": 0.5}, {"t1": 1.0, "t2": 1.0, "t3": 0.5})
>>> round(iv.value, 3), iv.low <= iv.value <= iv.high, iv.tasks
(0.5, True, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Interval", "delta_mean", "ratio_of_shares", "paired_statistic", "paired_statistics", "two_level",
           "wilson", "DEFAULT_RESAMPLES", "DEFAULT_CONFIDENCE"]

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None
    confidence: float
    tasks: int
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def excludes_one(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 1 or self.high < 1)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Interval":
        return cls(**{f: d[f] for f in ("value", "low", "high", "confidence", "tasks", "resamples")})

    def rounded(self) -> "Interval":
        """The interval as `to_dict` publishes it (six decimals): what a record keeps, so that
        reading the record back gives an equal interval."""
        return Interval.from_dict(self.to_dict())


def _common(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return sorted(set(a) & set(b))


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


@lru_cache(maxsize=8)
def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The draws' task indices (read-only): the same for every figure over n tasks, so drawn
    once (a dashboard overview asks for two intervals per round over the same tasks)."""
    indices = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    indices.flags.writeable = False
    return indices


def paired_statistic(a: np.ndarray, b: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
                     *, resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                     seed: int = 0) -> Interval:
    """A figure of two policies from per-task rows, with its paired bootstrap interval.

    `a` and `b` are ``(tasks, columns)`` arrays, row i of both the same task. `statistic(sa,
    sb, n)` gets the column sums over n tasks (arrays of shape ``(..., columns)``) and returns
    the figure (shape ``(...)``; NaN where undefined, e.g. a share of nothing); it is applied to
    all tasks for the value and to each draw of n tasks (with replacement, the same indices
    for a and b) for the interval. Undefined draws are left out of the percentiles.

    >>> import numpy as np
    >>> a, b = np.array([[0.0], [0.5]]), np.array([[1.0], [0.5]])
    >>> iv = paired_statistic(a, b, lambda sa, sb, n: (sb[..., 0] - sa[..., 0]) / n)
    >>> iv.value, iv.low, iv.high
    (0.5, 0.0, 1.0)
    """
    return paired_statistics(a, b, {"": statistic}, resamples=resamples, confidence=confidence,
                             seed=seed)[""]


def paired_statistics(a: np.ndarray, b: np.ndarray,
                      statistics: Mapping[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]],
                      *, resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = 0) -> dict[str, Interval]:
    """`paired_statistic` of several figures over the same draws (summed once)."""
    n = len(a)
    if n == 0:
        return {name: Interval(None, None, None, confidence, 0, resamples) for name in statistics}
    indices = _indices(n, resamples, seed)
    totals_a, totals_b = a.sum(axis=0), b.sum(axis=0)
    sums_a, sums_b = a[indices].sum(axis=1), b[indices].sum(axis=1)
    out = {}
    for name, statistic in statistics.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(statistic(totals_a, totals_b, n))
            draws = np.asarray(statistic(sums_a, sums_b, n), dtype=float)
        low, high = _percentiles(draws, confidence)
        out[name] = Interval(value if np.isfinite(value) else None, low, high, confidence, n, resamples)
    return out


def two_level(a: np.ndarray, b: np.ndarray,
              statistics: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
              *, resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
              seed: int = 0) -> dict[str, Interval]:
    """Figures of two policies from per-task counts of outcome kinds, with intervals that
    resample tasks (paired) and then each drawn task's samples (each policy on its own).

    `a` and `b` are ``(tasks, kinds)`` integer arrays: how many of a task's samples had each
    kind of outcome (e.g. failed, passed securely, passed insecurely). Each statistic `f(ca,
    cb)` gets counts of shape ``(..., tasks, kinds)`` and returns the figure (``(...)``, NaN
    where undefined); all of them are computed on the same draws. A draw picks n task indices
    with replacement (the same for a and b), then redraws each picked task's samples with
    replacement: multinomial counts on the task's observed shares, as many samples as it had.

    >>> import numpy as np
    >>> same = np.array([[8, 8], [4, 12]])             # (failed, passed) of two tasks
    >>> rate = lambda c: (c[..., 1] / c.sum(-1)).mean(-1)
    >>> iv = two_level(same, same, {"Δ": lambda ca, cb: rate(cb) - rate(ca)})["Δ"]
    >>> iv.value, iv.low < 0 < iv.high
    (0.0, True)
    """
    n = len(a)
    if n == 0:
        return {name: Interval(None, None, None, confidence, 0, resamples) for name in statistics}
    indices = _indices(n, resamples, seed)
    rng = np.random.default_rng([seed, 1])

    def redraw(counts: np.ndarray) -> np.ndarray:
        """Multinomial counts as a chain of binomials (the same distribution, vectorised)."""
        picked = counts[indices]                                 # (resamples, n, kinds)
        left = picked.sum(axis=-1)
        mass = left.astype(float)
        out = np.empty_like(picked)
        for kind in range(picked.shape[-1] - 1):
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(mass > 0, picked[..., kind] / mass, 0.0)
            out[..., kind] = rng.binomial(left, np.clip(share, 0.0, 1.0))
            left = left - out[..., kind]
            mass = mass - picked[..., kind]
        out[..., -1] = left
        return out

    drawn_a, drawn_b = redraw(a), redraw(b)
    out = {}
    for name, statistic in statistics.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(statistic(a, b))
            draws = np.asarray(statistic(drawn_a, drawn_b), dtype=float)
        low, high = _percentiles(draws, confidence)
        out[name] = Interval(value if np.isfinite(value) else None, low, high, confidence, n, resamples)
    return out


def delta_mean(a: Mapping[str, float], b: Mapping[str, float], *, resamples: int = DEFAULT_RESAMPLES,
               confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """Δ = mean over common tasks of b[t] − a[t], with a paired bootstrap interval over tasks."""
    tasks = _common(a, b)
    if not tasks:
        return Interval(None, None, None, confidence, 0, resamples)
    diff = np.array([b[t] - a[t] for t in tasks], dtype=float)   # per task first: exact when constant
    draws = diff[_indices(len(tasks), resamples, seed)].mean(axis=1)
    low, high = _percentiles(draws, confidence)
    return Interval(float(diff.mean()), low, high, confidence, len(tasks), resamples)


def ratio_of_shares(a: Mapping[str, tuple[int, int]], b: Mapping[str, tuple[int, int]], *,
                    resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                    seed: int = 0) -> Interval:
    """Ratio of pooled shares b / a, where each maps task -> (hits, total) (e.g. insecure passes,
    passes). The value is None when a's share is 0 or either total is 0; draws where the ratio
    is undefined are left out of the percentiles.

    >>> iv = ratio_of_shares({"t1": (2, 4), "t2": (2, 4)}, {"t1": (1, 4), "t2": (1, 4)})
    >>> iv.value
    0.5
    """
    tasks = _common(a, b)
    return paired_statistic(np.array([a[t] for t in tasks], dtype=float).reshape(-1, 2),
                            np.array([b[t] for t in tasks], dtype=float).reshape(-1, 2),
                            lambda sa, sb, n: (sb[..., 0] / sb[..., 1]) / (sa[..., 0] / sa[..., 1]),
                            resamples=resamples, confidence=confidence, seed=seed)


def wilson(successes: int, trials: int, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """A proportion `successes` / `trials` with its Wilson score interval (good at small n and
    at shares near 0 or 1, where the normal approximation's interval leaves [0, 1]). The
    interval's `tasks` is the number of trials, `resamples` 0 (it is computed, not drawn); the
    value is None when there was no trial.

    >>> iv = wilson(8, 10)
    >>> iv.value, round(iv.low, 3), round(iv.high, 3)
    (0.8, 0.49, 0.943)
    >>> wilson(0, 0).value is None
    True
    """
    if trials <= 0:
        return Interval(None, None, None, confidence, 0, 0)
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), confidence, trials, 0)
