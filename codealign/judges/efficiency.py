"""Efficiency judge: how much work a passing sample does, relative to a baseline.

The figures come from the sandbox's profiled run (``Job(profile=True)``) over the task's
``perf_inputs`` — its own, or synthesised from its tests (`codealign.sandbox.perfinputs`),
or else its tests' own calls:

* ``Cost.perf_cpu_s`` — the candidate's own CPU time over those calls, read from the kernel
  by the trusted tester, each call timed alone, fastest of several passes (a busy
  neighbour only ever adds time). It sees C-level work. This is the measure of work.
* ``Cost.ops`` — the deterministic count of Python line events executed in the candidate's
  code. It does not move when the machine is busy, but it misses work done inside C
  builtins (``x in some_list`` is one line event whatever the list's length).

The **cost** is ``cost_s = max(perf_cpu_s, ops × s_per_op)``: CPU time, with the op count as
a floor at the `Calibration` of the same run — a low quantile (`CALIBRATION_QUANTILE`) of
the measured seconds per line event of the run's own references (or, with too few of them,
its finished samples and references). No constant tuned to one machine's speed enters: on a
faster machine the floor is lower in proportion. Being a low quantile, it binds only on
readings that are implausibly cheap for their line count (a call too short to time well, a
result cached between the traced pass and the timed ones); a run with too few readings to
calibrate uses CPU time alone. On ENAMEL's clearly different pairs this agrees with the
experts at least as often as CPU time alone in the same run, and far more often than the op
count alone (`benchmarks/efficiency_agreement.py` prints all three).

**A profiling timeout is a lower bound.** A passing sample whose profiling ran past its
budget has ``Cost.lower_bound`` set: ``perf_cpu_s`` is the CPU time spent when it was
stopped (at least the budget) and ``ops`` the count reached. Its cost is "at least" that
figure (``details["lower_bound"]``); it is never a baseline, ranks below every sample that
finished (`codealign.judges.ranking`), and its efficiency pair with a finished sample forms
with the margin computed from the bound (`codealign.judges.pairs`), which can only
understate the true margin.

The baseline is the task's reference solution when it was profiled, passed and finished,
else the cheapest finished passing sample of the same task. The value is ``baseline_cost /
cost``: **higher is better**, 1.0 = as cheap as the baseline, 0.5 = twice the work (for a
lower bound: at most that). A passing sample without profile figures gets
``status="error"`` (never 0): an unmeasured sample is left out of efficiency decisions.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codealign.judges.verdict import JudgeScore
from codealign.sandbox.execution import Cost, Execution

__all__ = ["NAME", "COST_UNIT", "CALIBRATION_QUANTILE", "CALIBRATION_MIN_OPS", "Baseline",
           "Calibration", "cost_s", "efficiency_baseline", "judge_efficiency",
           "judge_efficiency_group"]

NAME = "efficiency"
COST_UNIT = "s"   # the unit of `cost_s`, as evaluation reports and the service publish it
CALIBRATION_QUANTILE = 0.1   # the floor's seconds per op: this quantile of the run's readings
CALIBRATION_MIN_OPS = 100    # readings over fewer line events say little about a line's cost
CALIBRATION_MIN_READINGS = 3  # fewer readings than this: no floor (CPU time alone)
_ZERO_S = 1e-9    # a zero guard only: the empty round trip is subtracted from CPU readings


@dataclass(frozen=True)
class Calibration:
    """Seconds per line event in this run: `s_per_op`, the floor under CPU readings (None:
    no floor), and `op_s`, the median of the jobs' own timing of a plain loop
    (`Cost.op_s`: the machine's speed while they ran, None where no job timed it), the unit
    of the smallest measured difference pairs act on (`codealign.judges.pairs`).

    >>> from codealign.sandbox.execution import Status
    >>> runs = [Execution(s, "t", Status.PASSED, 1, 1, cost=Cost(ops=ops, perf_cpu_s=cpu, op_s=o))
    ...         for s, ops, cpu, o in (("a", 1000, 2e-5, 3e-8), ("b", 4000, 2e-4, 2e-8),
    ...                                ("c", 500, 5e-5, None))]
    >>> Calibration.of(runs)
    Calibration(s_per_op=2e-08, readings=3, op_s=2.5e-08)
    >>> Calibration.of(runs[:2]).s_per_op is None
    True
    """

    s_per_op: float | None = None
    readings: int = 0
    op_s: float | None = None

    @classmethod
    def of(cls, executions: Iterable[Execution],
           references: Iterable[Execution] = ()) -> "Calibration":
        """From the finished, passing, profiled executions of one run (the samples and
        references of every task judged together). When the references alone give enough
        readings they decide: trusted programs, so samples cannot drag the floor down
        (by caching results between passes, say)."""
        def ratios(runs: Iterable[Execution]) -> list[float]:
            found = []
            for e in runs:
                ops, cpu_s = e.cost.ops, e.cost.perf_cpu_s
                if _finished(e) and ops is not None and cpu_s is not None \
                        and ops >= CALIBRATION_MIN_OPS and cpu_s > 0:
                    found.append(cpu_s / ops)
            return sorted(found)

        references, executions = list(references), list(executions)
        found = ratios(references)
        if len(found) < CALIBRATION_MIN_READINGS:
            found = ratios(executions + references)
        # the median: a few jobs (a hostile sample burning CPU beside the loop) cannot move it
        loops = [e.cost.op_s for e in executions + references
                 if _finished(e) and e.cost.op_s is not None and e.cost.op_s > 0]
        op_s = statistics.median(loops) if loops else None
        if len(found) < CALIBRATION_MIN_READINGS:
            return cls(None, len(found), op_s)
        return cls(found[int(CALIBRATION_QUANTILE * (len(found) - 1))], len(found), op_s)

    def to_dict(self) -> dict[str, float | int | None]:
        return {"s_per_op": self.s_per_op, "readings": self.readings,
                "quantile": CALIBRATION_QUANTILE, "op_s": self.op_s}


def cost_s(cost: Cost, calibration: Calibration = Calibration()) -> float | None:
    """The combined cost figure in seconds (see the module docstring); None unmeasured.
    For a `Cost.lower_bound` cost it is a lower bound.

    >>> cost_s(Cost(ops=1000, perf_cpu_s=0.5)), cost_s(Cost(ops=10**7, perf_cpu_s=0.1))
    (0.5, 0.1)
    >>> cost_s(Cost(ops=10**7, perf_cpu_s=0.1), Calibration(2e-8, 50)), cost_s(Cost())
    (0.2, None)
    """
    if cost.ops is None or cost.perf_cpu_s is None:
        return None
    floor = cost.ops * calibration.s_per_op if calibration.s_per_op else 0.0
    return max(cost.perf_cpu_s, floor, _ZERO_S)


@dataclass(frozen=True)
class Baseline:
    """The figures a sample is compared against and where they came from."""

    ops: int
    perf_cpu_s: float | None
    source: str       # "reference" or "best-sample"
    sample_id: str
    cost_s: float


def _measured(execution: Execution) -> bool:
    cost = execution.cost
    return execution.sandbox_passed and cost.ops is not None and cost.ops >= 0 and cost.perf_cpu_s is not None


def _finished(execution: Execution) -> bool:
    """Measured, and its profiling finished (the figures are exact, not a lower bound)."""
    return _measured(execution) and not execution.cost.lower_bound


def efficiency_baseline(executions: Sequence[Execution], reference: Execution | None = None,
                        calibration: Calibration = Calibration()) -> Baseline | None:
    """The reference's figures when it passed and its profiling finished, else the
    cheapest finished sample's; a lower bound is never a baseline.

    >>> from codealign.sandbox.execution import Cost, Status
    >>> run = lambda sid, cpu: Execution(sid, "t", Status.PASSED, 1, 1, cost=Cost(ops=9, perf_cpu_s=cpu))
    >>> efficiency_baseline([run("a", 0.009), run("b", 0.003)])
    Baseline(ops=9, perf_cpu_s=0.003, source='best-sample', sample_id='b', cost_s=0.003)
    """
    def baseline(e: Execution, source: str) -> Baseline:
        ops, cost = e.cost.ops, cost_s(e.cost, calibration)
        if ops is None or cost is None:  # only finished runs get here
            raise ValueError(f"{e.sample_id}: an unmeasured run cannot be a baseline")
        return Baseline(ops, e.cost.perf_cpu_s, source, e.sample_id, cost)

    if reference is not None and _finished(reference):
        return baseline(reference, "reference")
    finished = sorted((e for e in executions if _finished(e)),
                      key=lambda e: (cost_s(e.cost, calibration), e.cost.ops, e.sample_id))
    return baseline(finished[0], "best-sample") if finished else None


def judge_efficiency(execution: Execution, baseline: Baseline | None,
                     calibration: Calibration = Calibration()) -> JudgeScore:
    """Score one passing sample against `baseline`; value = baseline cost / cost (higher is better).

    >>> from codealign.sandbox.execution import Cost, Status
    >>> e = Execution("s", "t", Status.PASSED, 3, 3, cost=Cost(ops=400, perf_cpu_s=0.02))
    >>> s = judge_efficiency(e, Baseline(100, 0.005, "reference", "t::reference", 0.005))
    >>> s.value, s.details["ops_ratio"], s.details["cpu_ratio"], s.details["cost_ratio"]
    (0.25, 4.0, 4.0, 4.0)
    >>> slow = Execution("s", "t", Status.PASSED, 3, 3, cost=Cost(ops=9, perf_cpu_s=60.5, lower_bound=True))
    >>> s = judge_efficiency(slow, Baseline(100, 0.005, "reference", "t::reference", 0.005))
    >>> s.details["lower_bound"], s.details["cost_s"], s.value
    (True, 60.5, 8.3e-05)
    >>> judge_efficiency(Execution("s", "t", Status.PASSED, 3, 3), None).status.value
    'error'
    """
    cost = execution.cost
    if not execution.sandbox_passed:
        return JudgeScore.error(NAME, f"efficiency is measured on passing samples only "
                                      f"(status {execution.status.value})")
    mine = cost_s(cost, calibration)
    if not _measured(execution) or cost.ops is None or mine is None:
        return JudgeScore.error(NAME, "no profile figures (Cost.ops or Cost.perf_cpu_s is "
                                      "missing): was the sample run with profile=True?")
    if baseline is None:
        return JudgeScore.error(NAME, "no baseline: neither the reference nor any sample "
                                      "of the task finished its profiling")
    ops, base_ops = max(cost.ops, 1), max(baseline.ops, 1)
    cpu_ratio = None
    if cost.perf_cpu_s and baseline.perf_cpu_s:
        cpu_ratio = round(cost.perf_cpu_s / baseline.perf_cpu_s, 4)
    details = {
        "cost_s": mine, "lower_bound": cost.lower_bound, "ops": cost.ops,
        "perf_cpu_s": cost.perf_cpu_s, "peak_kb": cost.peak_kb,
        "baseline_cost_s": baseline.cost_s, "baseline_ops": baseline.ops,
        "baseline_cpu_s": baseline.perf_cpu_s,
        "baseline_source": baseline.source, "baseline_id": baseline.sample_id,
        "cost_ratio": round(mine / baseline.cost_s, 6),
        "ops_ratio": round(ops / base_ops, 6), "cpu_ratio": cpu_ratio,
        "s_per_op": calibration.s_per_op, "op_s": calibration.op_s,
    }
    if cost.lower_bound:
        details["note"] = ("profiling ran past its budget: the cost is at least cost_s "
                           "(a lower bound) and the value at most this")
    return JudgeScore(NAME, round(baseline.cost_s / mine, 6), details=details)


def judge_efficiency_group(executions: Sequence[Execution], reference: Execution | None = None,
                           calibration: Calibration = Calibration()) -> dict[str, JudgeScore]:
    """Efficiency scores for the passing samples of one task, keyed by sample_id.

    Samples that did not pass get no efficiency score at all (correctness decides them).
    `calibration` is the run's (`Calibration.of` every execution judged together).
    """
    baseline = efficiency_baseline(executions, reference, calibration)
    return {e.sample_id: judge_efficiency(e, baseline, calibration)
            for e in executions if e.sandbox_passed}
