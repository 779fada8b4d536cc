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
  passing samples (insecure passes / passes, pooled over tasks), b / a.

Both return an `Interval` (point estimate, 2.5th and 97.5th percentiles of the bootstrap
distribution for 95%, the number of tasks and resamples). Draws come from a seeded generator:
the same inputs always give the same interval.

>>> iv = delta_mean({"t1": 0.0, "t2": 0.5, "t3": 0.5}, {"t1": 1.0, "t2": 1.0, "t3": 0.5})
>>> round(iv.value, 3), iv.low <= iv.value <= iv.high, iv.tasks
(0.5, True, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Interval", "delta_mean", "ratio_of_shares", "DEFAULT_RESAMPLES", "DEFAULT_CONFIDENCE"]

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


def delta_mean(a: Mapping[str, float], b: Mapping[str, float], *, resamples: int = DEFAULT_RESAMPLES,
               confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """Δ = mean over common tasks of b[t] − a[t], with a paired bootstrap interval over tasks."""
    tasks = _common(a, b)
    if not tasks:
        return Interval(None, None, None, confidence, 0, resamples)
    diff = np.array([b[t] - a[t] for t in tasks], dtype=float)
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
    if not tasks:
        return Interval(None, None, None, confidence, 0, resamples)
    arr = np.array([[a[t][0], a[t][1], b[t][0], b[t][1]] for t in tasks], dtype=float)

    def ratio(sums: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            share_a = sums[..., 0] / sums[..., 1]
            share_b = sums[..., 2] / sums[..., 3]
            return share_b / share_a

    value = float(ratio(arr.sum(axis=0)))
    draws = ratio(arr[_indices(len(tasks), resamples, seed)].sum(axis=1))
    low, high = _percentiles(draws, confidence)
    return Interval(value if np.isfinite(value) else None, low, high, confidence, len(tasks), resamples)
