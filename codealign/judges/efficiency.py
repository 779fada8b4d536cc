"""Efficiency judge: how much work a passing sample does, relative to a baseline.

The figures come from the sandbox's profiled run (``Job(profile=True)``) over the task's
``perf_inputs`` — its own, or synthesised from its tests (`codealign.sandbox.perfinputs`),
or else its tests' own calls:

* ``Cost.ops`` — the deterministic count of Python line events executed in the candidate's
  code. It does not move when the machine is busy, but it misses work done inside C
  builtins (``x in some_list`` is one line event whatever the list's length).
* ``Cost.perf_cpu_s`` — the candidate's own CPU time over those calls, read from the kernel
  by the trusted tester, each call timed alone, fastest of several passes (a busy
  neighbour only ever adds time). It sees C-level work.

The **cost** combines them: ``cost_s = max(perf_cpu_s, ops × OP_S, FLOOR_S)``. CPU time is
the measure of work; the op count, at ``OP_S`` (about the fastest a line of Python runs
here), is a floor that a lucky CPU reading cannot undercut, and ``FLOOR_S`` puts every
figure below the clock's useful resolution in one tie. On ENAMEL's clearly different
pairs this agrees with the experts far more often than the op count alone
(`benchmarks/efficiency_agreement.py` prints all three).

The baseline is the task's reference solution when it was profiled and passed, else the
cheapest passing sample of the same task. The value is ``baseline_cost / cost``: **higher
is better**, 1.0 = as cheap as the baseline, 0.5 = twice the work. A passing sample
without profile figures gets ``status="error"`` (never 0): an unmeasured sample is left
out of efficiency decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codealign.judges.verdict import JudgeScore
from codealign.sandbox.execution import Cost, Execution

__all__ = ["NAME", "OP_S", "FLOOR_S", "COST_UNIT", "Baseline", "cost_s", "efficiency_baseline",
           "judge_efficiency", "judge_efficiency_group"]

NAME = "efficiency"
OP_S = 2e-8       # seconds per line event: a floor, about the fastest a line runs untraced
FLOOR_S = 1e-6    # below this, CPU readings are clock and scheduling noise
COST_UNIT = "s"   # the unit of `cost_s`, as evaluation reports and the service publish it


def cost_s(cost: Cost) -> float | None:
    """The combined cost figure in seconds (see the module docstring); None unmeasured.

    >>> cost_s(Cost(ops=1000, perf_cpu_s=0.5)), cost_s(Cost(ops=10**7, perf_cpu_s=0.1))
    (0.5, 0.2)
    >>> cost_s(Cost(ops=3, perf_cpu_s=1e-7)), cost_s(Cost())
    (1e-06, None)
    """
    if cost.ops is None:
        return None
    return max(cost.perf_cpu_s or 0.0, cost.ops * OP_S, FLOOR_S)


@dataclass(frozen=True)
class Baseline:
    """The figures a sample is compared against and where they came from."""

    ops: int
    perf_cpu_s: float | None
    source: str       # "reference" or "best-sample"
    sample_id: str
    cost_s: float


def _measured(execution: Execution) -> bool:
    return execution.sandbox_passed and execution.cost.ops is not None and execution.cost.ops >= 0


def efficiency_baseline(executions: Sequence[Execution],
                        reference: Execution | None = None) -> Baseline | None:
    """The reference's figures when it passed and was profiled, else the best sample's.

    >>> from codealign.sandbox.execution import Cost, Status
    >>> run = lambda sid, ops: Execution(sid, "t", Status.PASSED, 1, 1, cost=Cost(ops=ops))
    >>> efficiency_baseline([run("a", 9000), run("b", 3000)])
    Baseline(ops=3000, perf_cpu_s=None, source='best-sample', sample_id='b', cost_s=6e-05)
    """
    def baseline(e: Execution, source: str) -> Baseline:
        return Baseline(e.cost.ops, e.cost.perf_cpu_s, source, e.sample_id, cost_s(e.cost))

    if reference is not None and _measured(reference):
        return baseline(reference, "reference")
    measured = sorted((e for e in executions if _measured(e)),
                      key=lambda e: (cost_s(e.cost), e.cost.ops, e.sample_id))
    return baseline(measured[0], "best-sample") if measured else None


def judge_efficiency(execution: Execution, baseline: Baseline | None) -> JudgeScore:
    """Score one passing sample against `baseline`; value = baseline cost / cost (higher is better).

    >>> from codealign.sandbox.execution import Cost, Status
    >>> e = Execution("s", "t", Status.PASSED, 3, 3, cost=Cost(ops=400, perf_cpu_s=0.02))
    >>> s = judge_efficiency(e, Baseline(100, 0.005, "reference", "t::reference", 0.005))
    >>> s.value, s.details["ops_ratio"], s.details["cpu_ratio"], s.details["cost_ratio"]
    (0.25, 4.0, 4.0, 4.0)
    >>> judge_efficiency(Execution("s", "t", Status.PASSED, 3, 3), None).status.value
    'error'
    """
    cost = execution.cost
    if not execution.sandbox_passed:
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
    mine = cost_s(cost)
    return JudgeScore(NAME, round(baseline.cost_s / mine, 6), details={
        "cost_s": mine, "ops": cost.ops, "perf_cpu_s": cost.perf_cpu_s, "peak_kb": cost.peak_kb,
        "baseline_cost_s": baseline.cost_s, "baseline_ops": baseline.ops,
        "baseline_cpu_s": baseline.perf_cpu_s,
        "baseline_source": baseline.source, "baseline_id": baseline.sample_id,
        "cost_ratio": round(mine / baseline.cost_s, 6),
        "ops_ratio": round(ops / base_ops, 6), "cpu_ratio": cpu_ratio,
    })


def judge_efficiency_group(executions: Sequence[Execution],
                           reference: Execution | None = None) -> dict[str, JudgeScore]:
    """Efficiency scores for the passing samples of one task, keyed by sample_id.

    Samples that did not pass get no efficiency score at all (correctness decides them).
    """
    baseline = efficiency_baseline(executions, reference)
    return {e.sample_id: judge_efficiency(e, baseline) for e in executions if e.sandbox_passed}
