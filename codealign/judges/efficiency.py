"""Efficiency judge: how much work a passing sample does, relative to a baseline.

The figures come from the sandbox's profiled run (``Job(profile=True)``):

* ``Cost.ops`` — the deterministic count of Python line events executed in the candidate's
  code during the perf calls (the task's ``perf_inputs``, or its test calls when it has
  none). It does not move when the machine is busy; it is the **primary** figure.
* ``Cost.perf_cpu_s`` — the median CPU time of those calls read from the kernel by the
  trusted parent; a cross-check, kept in the details (CPU time moved ~3% under load here,
  wall-clock 5x, so wall time is not used at all).

The baseline is the task's reference solution when it was profiled and passed, else the
best (fewest ops) passing sample of the same task. The value is ``baseline_ops / ops``:
**higher is better**, 1.0 = as cheap as the baseline, 0.5 = twice the work. A passing
sample without profile figures gets ``status="error"`` (never 0): an unmeasured sample
is left out of efficiency decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codealign.judges.verdict import JudgeScore
from codealign.sandbox.execution import Execution

__all__ = ["NAME", "Baseline", "efficiency_baseline", "judge_efficiency", "judge_efficiency_group"]

NAME = "efficiency"


@dataclass(frozen=True)
class Baseline:
    """The figures a sample is compared against and where they came from."""

    ops: int
    perf_cpu_s: float | None
    source: str       # "reference" or "best-sample"
    sample_id: str


def _measured(execution: Execution) -> bool:
    return execution.passed and execution.cost.ops is not None and execution.cost.ops >= 0


def efficiency_baseline(executions: Sequence[Execution],
                        reference: Execution | None = None) -> Baseline | None:
    """The reference's figures when it passed and was profiled, else the best sample's.

    >>> from codealign.sandbox.execution import Cost, Status
    >>> run = lambda sid, ops: Execution(sid, "t", Status.PASSED, 1, 1, cost=Cost(ops=ops))
    >>> efficiency_baseline([run("a", 90), run("b", 30)])
    Baseline(ops=30, perf_cpu_s=None, source='best-sample', sample_id='b')
    """
    if reference is not None and _measured(reference):
        return Baseline(reference.cost.ops, reference.cost.perf_cpu_s, "reference",
                        reference.sample_id)
    measured = sorted((e for e in executions if _measured(e)),
                      key=lambda e: (e.cost.ops, e.sample_id))
    if not measured:
        return None
    best = measured[0]
    return Baseline(best.cost.ops, best.cost.perf_cpu_s, "best-sample", best.sample_id)


def judge_efficiency(execution: Execution, baseline: Baseline | None) -> JudgeScore:
    """Score one passing sample against `baseline`; value = baseline_ops / ops (higher is better).

    >>> from codealign.sandbox.execution import Cost, Status
    >>> e = Execution("s", "t", Status.PASSED, 3, 3, cost=Cost(ops=400, perf_cpu_s=0.02))
    >>> s = judge_efficiency(e, Baseline(100, 0.005, "reference", "t::reference"))
    >>> s.value, s.details["ops_ratio"], s.details["cpu_ratio"]
    (0.25, 4.0, 4.0)
    >>> judge_efficiency(Execution("s", "t", Status.PASSED, 3, 3), None).status.value
    'error'
    """
    cost = execution.cost
    if not execution.passed:
        return JudgeScore.error(NAME, f"efficiency is measured on passing samples only "
                                      f"(status {execution.status.value})")
    if cost.ops is None:
        return JudgeScore.error(NAME, "no profile figures (Cost.ops is missing): "
                                      "was the sample run with profile=True?")
    if baseline is None:
        return JudgeScore.error(NAME, "no baseline: neither the reference nor any sample "
                                      "of the task was measured")
    ops, base_ops = max(cost.ops, 1), max(baseline.ops, 1)
    cpu_ratio = None
    if cost.perf_cpu_s and baseline.perf_cpu_s:
        cpu_ratio = round(cost.perf_cpu_s / baseline.perf_cpu_s, 4)
    return JudgeScore(NAME, round(base_ops / ops, 6), details={
        "ops": cost.ops, "perf_cpu_s": cost.perf_cpu_s, "peak_kb": cost.peak_kb,
        "baseline_ops": baseline.ops, "baseline_cpu_s": baseline.perf_cpu_s,
        "baseline_source": baseline.source, "baseline_id": baseline.sample_id,
        "ops_ratio": round(ops / base_ops, 6), "cpu_ratio": cpu_ratio,
    })


def judge_efficiency_group(executions: Sequence[Execution],
                           reference: Execution | None = None) -> dict[str, JudgeScore]:
    """Efficiency scores for the passing samples of one task, keyed by sample_id.

    Samples that did not pass get no efficiency score at all (correctness decides them).
    """
    baseline = efficiency_baseline(executions, reference)
    return {e.sample_id: judge_efficiency(e, baseline) for e in executions if e.passed}
