"""The promotion gate: keep a round's policy only if it is better where it counts.

A candidate round is promoted when both hold, against the incumbent (the last promoted
policy; round 0 is the base model):

1. held-out pass@1 has not fallen by more than ``pass_at_1_tolerance`` (absolute), and
2. the objective improved by more than ``min_improvement``:
   - ``pass@1``      higher is better;
   - ``secure_rate`` higher is better (share of passing samples with no medium+ finding);
   - ``mean_cost``   lower is better, measured as the relative change of the mean cost;
   - ``composite``   ``w_pass * Δpass@1 + w_secure * Δsecure_rate - w_cost * relative Δcost``,
     a weighted sum of the three deltas (terms whose figures are missing count 0).

Otherwise the round is rejected, and the next round starts from the incumbent's adapter.
`decide` is a pure function; the loop records its `GateDecision` in rounds.jsonl.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from codealign.errors import ConfigError

__all__ = ["Objective", "GateConfig", "GateDecision", "decide"]


class Objective(str, Enum):
    """What a round must improve to be promoted."""

    PASS_AT_1 = "pass@1"
    SECURE_RATE = "secure_rate"
    MEAN_COST = "mean_cost"
    COMPOSITE = "composite"


@dataclass
class GateConfig:
    objective: Objective = Objective.PASS_AT_1
    pass_at_1_tolerance: float = 0.02
    """Largest allowed fall of held-out pass@1 (absolute, e.g. 0.02 = two points)."""
    min_improvement: float = 0.0
    """The objective's delta must exceed this (0: any strict improvement)."""
    w_pass: float = 1.0
    w_secure: float = 0.5
    w_cost: float = 0.1

    def __post_init__(self) -> None:
        try:
            self.objective = Objective(self.objective)
        except ValueError:
            raise ConfigError(f"must be one of {[o.value for o in Objective]}, got {self.objective!r}",
                              field="objective") from None
        for name in ("pass_at_1_tolerance", "min_improvement", "w_pass", "w_secure", "w_cost"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"must be a number >= 0, got {value!r}", field=name)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["objective"] = self.objective.value
        return d


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str
    objective: str
    delta: float | None            # the objective's improvement (positive = better)
    pass_at_1_delta: float | None  # None: the candidate was not evaluated

    @property
    def status(self) -> str:
        return "promoted" if self.promoted else "rejected"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, **dataclasses.asdict(self)}


def _delta(name: str, candidate: Mapping[str, Any], incumbent: Mapping[str, Any]) -> float | None:
    """Improvement of one figure, signed so that positive is better; None when unknown."""
    new, old = candidate.get(name), incumbent.get(name)
    if new is None or old is None:
        return None
    if name == "mean_cost":
        return (old - new) / old if old > 0 else None
    return new - old


def decide(candidate: Mapping[str, Any], incumbent: Mapping[str, Any], config: GateConfig) -> GateDecision:
    """Promote or reject `candidate` (overall eval figures with keys ``pass@1``, ``secure_rate``,
    ``mean_cost``) against `incumbent`.

    >>> g = GateConfig(objective="secure_rate", pass_at_1_tolerance=0.05)
    >>> decide({"pass@1": 0.48, "secure_rate": 0.9}, {"pass@1": 0.5, "secure_rate": 0.7}, g).promoted
    True
    >>> decide({"pass@1": 0.40, "secure_rate": 0.9}, {"pass@1": 0.5, "secure_rate": 0.7}, g).reason
    'pass@1 fell 0.100 (0.500 -> 0.400), more than the tolerance 0.05'
    """
    p_new, p_old = float(candidate["pass@1"]), float(incumbent["pass@1"])
    p_delta = p_new - p_old
    objective = config.objective
    if p_delta < -config.pass_at_1_tolerance - 1e-12:
        return GateDecision(False, f"pass@1 fell {-p_delta:.3f} ({p_old:.3f} -> {p_new:.3f}), more than "
                                   f"the tolerance {config.pass_at_1_tolerance}",
                            objective.value, None, p_delta)
    if objective is Objective.COMPOSITE:
        parts = {"pass@1": config.w_pass, "secure_rate": config.w_secure, "mean_cost": config.w_cost}
        delta = sum(w * (_delta(name, candidate, incumbent) or 0.0) for name, w in parts.items())
    else:
        delta = _delta(objective.value, candidate, incumbent)
    if delta is None:
        return GateDecision(False, f"{objective.value} cannot be compared (a figure is missing: "
                                   f"{incumbent.get(objective.value)} -> {candidate.get(objective.value)})",
                            objective.value, None, p_delta)
    if delta > config.min_improvement + 1e-12:
        return GateDecision(True, f"{objective.value} improved by {delta:+.4f} and pass@1 changed "
                                  f"{p_delta:+.3f} (tolerance {config.pass_at_1_tolerance})",
                            objective.value, delta, p_delta)
    return GateDecision(False, f"{objective.value} did not improve ({delta:+.4f}, needed > "
                               f"{config.min_improvement})", objective.value, delta, p_delta)
