"""Ranking the samples of one task, with a sentence for every decision.

Correctness comes first: samples that passed every test honestly, then the others by the
fraction of tests they passed (and how close their failure came to working: a wrong
answer beats a crash), and tampered samples always last, whatever their tests said.

Among passing samples, security is a hard line first: every secure sample ranks above every
one whose security judge failed, and those above every insecure one (a MEDIUM/HIGH bandit
finding; `codealign.judges.rules`), whatever the judge order. Within each of those classes
the quality judges are compared in the order `JudgeConfig.order`
(default: efficiency, then security, then maintainability). A difference smaller than the
criterion's tolerance is a tie and the next criterion decides. To keep the order
transitive, each figure is cut into tolerance-wide buckets measured from the best sample:

* efficiency: ``floor(log(cost / best_cost) / log(1 + efficiency_tolerance))`` (the
  efficiency judge's combined cost, `codealign.judges.efficiency.cost_s`)
* security: ``floor((risk - least_risk) / security_tolerance)``
* maintainability: ``floor((best_mi - mi) / maintainability_tolerance)``

A passing sample whose profiling ran past its budget (an efficiency figure that is a lower
bound, `codealign.judges.efficiency`) sorts after every sample whose profiling finished, on
efficiency, whatever its bound; such samples tie among themselves. A sample whose judge
errored sorts after every measured one on that criterion, and its explanation says that the
judge failed; it never counts as a score of 0.

The ranks follow measured cost at the tolerance's resolution, so CPU-time noise can swap two
close samples; preference pairs never read them (`codealign.judges.pairs` decides on its own
clear-difference rules, in sample-id order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field

from codealign.judges.verdict import Verdict
from codealign.stage_config import Number, stage_config

__all__ = ["CRITERIA", "JudgeConfig", "rank_verdicts"]

Criterion = Literal["efficiency", "security", "maintainability"]
CRITERIA: tuple[Criterion, ...] = get_args(Criterion)


def _distinct(order: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
    if len(set(order)) != len(order):
        raise ValueError("must name each criterion at most once")
    return order


@stage_config
class JudgeConfig:
    """How passing samples are compared.

    Attributes:
        order: the quality criteria in decreasing priority; a subset of
            ``("efficiency", "security", "maintainability")``; criteria left out are ignored.
        efficiency_tolerance: relative cost difference below which two samples tie
            (0.1 = within 10%).
        security_tolerance: bandit risk points below which two samples tie (a LOW severity,
            HIGH confidence finding weighs 1, MEDIUM/HIGH 3, HIGH/HIGH 9).
        maintainability_tolerance: maintainability-index points (0-100) below which two
            samples tie.
        bandit_skips: bandit test ids not run (B101 = ``assert`` used).
    """

    order: Annotated[tuple[Criterion, ...], AfterValidator(_distinct)] = CRITERIA
    efficiency_tolerance: Annotated[Number, Field(gt=0)] = 0.10
    security_tolerance: Annotated[Number, Field(gt=0)] = 1.0
    maintainability_tolerance: Annotated[Number, Field(gt=0)] = 5.0
    bandit_skips: tuple[str, ...] = ("B101",)


_INF = math.inf
# The efficiency bucket of a lower bound: after every finished sample, before the unmeasured.
_LOWER_BOUND = float(2 ** 62)
# The hard security line among passing samples: secure, then unknown, then insecure.
_SECURITY_CLASS = {True: 0, None: 1, False: 2}

# (0 passed, 1 failed, 2 tampered), the figures that order a group, sample id
_RankKey = tuple[int, tuple[float, ...], str]


def _figure(v: Verdict, criterion: str) -> float | None:
    """The raw figure a criterion compares, oriented so that lower is better."""
    s = v.score(criterion)
    if s is None:
        return None
    if criterion == "efficiency":
        cost_s: float | None = s.details["cost_s"]
        return cost_s
    if criterion == "security":
        return s.number
    return -s.number  # maintainability: higher MI is better


def _lower_bound(v: Verdict) -> bool:
    """The efficiency figure is a lower bound (profiling ran past its budget)."""
    s = v.score("efficiency")
    return s is not None and s.details.get("lower_bound") is True


def _buckets(passing: Sequence[Verdict], config: JudgeConfig) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {v.sample_id: {} for v in passing}
    for criterion in config.order:
        figures = {v.sample_id: _figure(v, criterion) for v in passing}
        bounds = {v.sample_id for v in passing if criterion == "efficiency" and _lower_bound(v)}
        known = [f for sid, f in figures.items() if f is not None and sid not in bounds]
        best = min(known) if known else 0.0
        for sid, f in figures.items():
            if f is None:
                out[sid][criterion] = _INF
            elif sid in bounds:
                out[sid][criterion] = _LOWER_BOUND
            elif criterion == "efficiency":
                out[sid][criterion] = math.floor(
                    math.log(f / best) / math.log1p(config.efficiency_tolerance) + 1e-9)
            else:
                tol = (config.security_tolerance if criterion == "security"
                       else config.maintainability_tolerance)
                out[sid][criterion] = math.floor((f - best) / tol + 1e-9)
    return out


def _describe(v: Verdict, criterion: str) -> str:
    s = v.scores.get(criterion)
    if s is None or not s.ok:
        return f"{criterion} unknown ({'judge error' if s is not None else 'not judged'})"
    d = s.details
    if criterion == "efficiency":
        if d.get("lower_bound") is True:
            return (f"cost at least {d['cost_s'] * 1000:.3f} ms (profiling ran past its budget: "
                    f"a lower bound, >= {d['cost_ratio']:.2f}x the {d['baseline_source']}; "
                    f"{d['ops']} ops counted)")
        return (f"cost {d['cost_s'] * 1000:.3f} ms ({d['cost_ratio']:.2f}x the {d['baseline_source']}; "
                f"{d['ops']} ops" + (f", cpu {d['perf_cpu_s'] * 1000:.3f} ms)" if d.get("perf_cpu_s") else ")"))
    if criterion == "security":
        ids = ",".join(f["test_id"] for f in d["findings"]) or "no findings"
        return f"bandit risk {s.value:g} ({ids})"
    return f"maintainability index {s.value:.1f} (max CC {d['cc_max']})"


def _status_text(v: Verdict) -> str:
    e = v.execution
    text = f"{e.status.value} {e.tests_passed}/{e.tests_total} tests"
    if not v.tampered and e.status.value != "passed" and e.detail:
        # why it failed, e.g. the input on which it disagreed with the reference and both outputs
        text += f" ({e.detail if len(e.detail) <= 300 else e.detail[:300] + '...'})"
    if v.tampered and e.status.value != "tampered":
        tamper = v.scores.get("tamper")
        if tamper is None or not tamper.ok:
            text += ", tamper check unavailable (treated as tampered)"
        else:
            kinds = sorted({r["kind"] for r in tamper.details["reasons"]})
            text += f", tampered ({', '.join(kinds)})"
    return text


def rank_verdicts(verdicts: Sequence[Verdict], config: JudgeConfig = JudgeConfig()) -> list[Verdict]:
    """The verdicts of one task, best first, each with its `rank` (1 = best) and an
    explanation of its place. Deterministic: ties are broken by sample_id."""
    if len({v.task_id for v in verdicts}) > 1:
        raise ValueError("rank_verdicts ranks the samples of one task at a time")
    passing = [v for v in verdicts if v.passed]
    buckets = _buckets(passing, config)

    def key(v: Verdict) -> _RankKey:
        if v.passed:
            return (0, (_SECURITY_CLASS[v.secure],) + tuple(buckets[v.sample_id][c] for c in config.order),
                    v.sample_id)
        if not v.tampered:
            e = v.execution
            return (1, (-e.fraction_passed, -e.status.rank), v.sample_id)
        return (2, (), v.sample_id)

    ordered = sorted(verdicts, key=key)
    ranked = []
    for position, v in enumerate(ordered, start=1):
        parts = [f"rank {position}/{len(ordered)}: {_status_text(v)}"]
        if v.passed:
            parts += [_describe(v, c) for c in config.order]
        if position > 1:
            parts.append(f"below {ordered[position - 2].sample_id}: "
                         + _why_below(ordered[position - 2], v, key, buckets, config))
        ranked.append(replace(v, rank=position, explanation="; ".join(parts)))
    return ranked


def _why_below(above: Verdict, v: Verdict, key: Callable[[Verdict], _RankKey],
               buckets: dict[str, dict[str, float]], config: JudgeConfig) -> str:
    ka, kv = key(above), key(v)
    if ka[0] != kv[0]:
        if kv[0] == 2:
            return "tampered samples rank last"
        return "it passed every test and this did not"
    if kv[0] == 1:
        ea, ev = above.execution, v.execution
        if ea.fraction_passed != ev.fraction_passed:
            return f"it passed more tests ({ea.tests_passed}/{ea.tests_total})"
        if ea.status != ev.status:
            return (f"a {ea.status.value} run is closer to working code than "
                    f"a {ev.status.value} run")
        return "tie; ordered by sample id"
    if kv[0] == 2:
        return "tie among tampered samples; ordered by sample id"
    if above.secure is not v.secure:
        if v.secure is False:
            return "it has no medium/high bandit finding and this one has (security is a hard line)"
        return "its security was judged and this one's was not (security is a hard line)"
    for criterion in config.order:
        ba, bv = buckets[above.sample_id][criterion], buckets[v.sample_id][criterion]
        if ba != bv:
            if bv == _INF:
                return f"its {criterion} was measured and this one's was not"
            if bv == _LOWER_BOUND:
                return (f"its profiling finished and this one's ran past its budget "
                        f"({_describe(v, criterion)}): a lower bound ranks below every "
                        f"finished sample")
            return f"better {criterion}: {_describe(above, criterion)} vs {_describe(v, criterion)}"
    return "tie within every tolerance; ordered by sample id"
