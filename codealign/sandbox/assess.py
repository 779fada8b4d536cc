"""The trusted verdict: one zygote response becomes an `Execution`.

It is computed here, on the host, from the typed response (`codealign.sandbox.wire`):
literal calls are compared with expected values that never entered the sandbox, and a pass
needs the tester's completion record with every test accounted for and a clean exit of the
candidate's process. Whatever the candidate did is data here, never an exception.
"""

from __future__ import annotations

import dataclasses
import signal
from typing import TypedDict

from codealign.sandbox.config import Job
from codealign.sandbox.execution import Cost, Execution, Flag, Status, TestOutcome
from codealign.sandbox.strengthen import DiffCase
from codealign.sandbox.testcases import CallCase, TestPlan
from codealign.sandbox.wire import CallReply, Response
from codealign.sandbox.zygote import Event

__all__ = ["assess", "with_profile"]


def assess(job: Job, plan: TestPlan, response: Response | None, backend: str,
           timeout_s: float | None = None) -> Execution:
    """The trusted verdict on one zygote response (None: the sandbox stopped answering).
    `timeout_s`: the limit the run had (for the message; default the task's)."""
    config_timeout = timeout_s if timeout_s is not None else job.task.timeout_s
    base = _Identity(sample_id=job.sample_id, task_id=job.task.task_id, tests_total=plan.total,
                     backend=backend)
    if response is None:
        return Execution(status=Status.TIMEOUT, tests_passed=0, detail="the sandbox stopped answering "
                         "and was replaced", flags=(Flag.SANDBOX_UNRESPONSIVE.text(),), **base)
    record, perf, final, tester = response.record, response.perf, response.final, response.tester
    out = _Output(stdout=response.stdout, stderr=response.stderr)
    events = record.events if record is not None else ()
    flags = [Flag(e).text() for e in events]
    if response.stdout_truncated:
        flags.append(Flag.STDOUT_TRUNCATED.text())
    if response.stderr_truncated:
        flags.append(Flag.STDERR_TRUNCATED.text())

    measured = perf if perf is not None and not perf.error else None
    cost = Cost(cpu_s=final.cpu_s if final else 0.0, peak_kb=final.peak_kb if final else 0,
                wall_s=response.wall_s, ops=measured.ops if measured is not None else None,
                perf_cpu_s=measured.cpu_s if measured is not None else None)
    if perf is not None and perf.error:
        flags.append(Flag.PERF_ERROR.text(perf.error[:200]))
    if response.perf_timed_out:
        flags.append(Flag.PERF_TIMEOUT.text())

    if response.timed_out:
        return Execution(status=Status.TIMEOUT, tests_passed=0, cost=cost,
                         detail=f"wall-clock limit of {config_timeout:g}s reached",
                         flags=tuple(flags), **out, **base)
    if record is None:
        if tester.signal is not None:
            flags.append(Flag.HARNESS_KILLED.text())
            return Execution(status=Status.TAMPERED, tests_passed=0, cost=cost, flags=tuple(flags),
                             detail=f"the trusted tester was killed by signal {tester.signal} "
                                    "before writing its record", **out, **base)
        return Execution(status=Status.ERROR, tests_passed=0, cost=cost, flags=tuple(flags),
                         detail=f"the tester ended without a record ({tester})", **out, **base)

    exited_clean = final is not None and final.clean
    if not record.loaded:
        status = Status.ERROR
        if record.saw(Event.MEMORY):
            status = Status.MEMORY
        elif record.saw(Event.EXIT_AT_LOAD) or (record.saw(Event.ENDED_AT_LOAD) and exited_clean):
            status = Status.TAMPERED
            flags.append(Flag.EXIT_AT_LOAD.text())
        return Execution(status=status, tests_passed=0, cost=cost, flags=tuple(dict.fromkeys(flags)),
                         detail=record.load_error, **out, **base)

    outcomes = [_outcome(case, got) for case, got in zip(plan.calls, record.calls)]
    outcomes += [TestOutcome(f"script[{i}]", got.passed, got.error) for i, got in enumerate(record.scripts)]
    accounted = len(record.calls) == len(plan.calls) and len(record.scripts) == len(plan.scripts)
    passed_count = sum(o.passed for o in outcomes)
    worker_signal = final.signal if final is not None else None
    clean_exit = exited_clean and tester.exit == 0
    if worker_signal is not None:
        name = (signal.Signals(worker_signal).name
                if worker_signal in signal.Signals._value2member_map_ else str(worker_signal))
        flags.append(f"{Flag.CANDIDATE_SIGNAL.value}-{name}")

    # Ending the process with status 0 while tests are still running is a bid for a pass
    # (sys.exit(0), os._exit(0), exec of /bin/true, an exiting thread or timer).
    exited_early = record.saw(Event.EXIT_IN_CALL) or (record.saw(Event.ENDED_IN_CALL) and exited_clean)
    if accounted and clean_exit and passed_count == plan.total and not exited_early:
        status = Status.PASSED
    elif exited_early:
        status = Status.TAMPERED
        flags.append(Flag.EXIT_BEFORE_COMPLETION.text())
    elif worker_signal == signal.SIGXCPU:
        status = Status.TIMEOUT
    elif record.saw(Event.MEMORY):
        status = Status.MEMORY
    elif worker_signal is not None or not accounted or final is None:
        status = Status.ERROR
    else:
        status = Status.FAILED
    detail = "" if status is Status.PASSED else next((f"{o.name}: {o.detail}" for o in outcomes if not o.passed), "")
    if not accounted:
        detail = f"only {len(record.calls) + len(record.scripts)} of {plan.total} tests reported"
    return Execution(status=status, tests_passed=passed_count, outcomes=tuple(outcomes), cost=cost,
                     flags=tuple(dict.fromkeys(flags)), detail=detail, **out, **base)


class _Identity(TypedDict):
    """The fields of every `Execution` of one job."""

    sample_id: str
    task_id: str
    tests_total: int
    backend: str


class _Output(TypedDict):
    stdout: str
    stderr: str


def _outcome(case: CallCase, got: CallReply) -> TestOutcome:
    """One literal call judged on the host against its expected value (a differential
    case: against the reference's output, `strengthen.DiffCase`)."""
    if got.over_budget is not None and isinstance(case, DiffCase):
        passed, why = False, case.over_budget(got.over_budget)
    elif got.returned:
        passed, why = case.check(got.value)
    elif got.opaque is not None and case.op in ("truthy", "falsy") and got.truth is not None:
        # `assert f(x)` asks only for truthiness, which the object's own bool() decides in
        # the original harness too; returning True/False directly would do the same.
        passed = got.truth is (case.op == "truthy")
        why = "" if passed else f"expected a {'true' if case.op == 'truthy' else 'false'} value, got {got.opaque}"
    elif got.opaque is not None:
        passed, why = False, f"returned a non-plain {got.type_name} object: {got.opaque}"
    else:
        passed, why = False, got.error
    return TestOutcome(case.name, passed, why)


def with_profile(verdict: Execution, response: Response | None) -> Execution:
    """The verdict run's record with the figures of the measuring run (`response`). A
    profile stopped at its CPU budget gives figures that are a lower bound
    (`Cost.lower_bound`, and the diagnostic `Flag.PERF_TIMEOUT`). A measuring run that gave
    none (it failed, ran out of wall clock before its budget, or the sandbox stopped
    answering) leaves the figures empty and says why in a diagnostic flag."""
    perf = response.perf if response is not None else None
    if response is None or perf is None or perf.error:
        why = ("the sandbox stopped answering" if response is None
               else "the measuring run timed out" if response.perf_timed_out or response.timed_out
               else perf.error[:200] if perf else "the measuring run gave no figures")
        flag = (Flag.PERF_TIMEOUT if response is not None and response.perf_timed_out
                else Flag.PERF_ERROR if perf and perf.error else Flag.PERF_UNAVAILABLE)
        return dataclasses.replace(verdict, flags=verdict.flags + (flag.text(why),))
    cost = dataclasses.replace(verdict.cost, ops=perf.ops, perf_cpu_s=perf.cpu_s,
                               lower_bound=perf.lower_bound, op_s=perf.op_s)
    flags = verdict.flags
    if perf.lower_bound:
        flags += (Flag.PERF_TIMEOUT.text(f"profiling stopped at its CPU budget of {perf.budget_s:g}s; "
                                         "the cost is a lower bound"),)
    return dataclasses.replace(verdict, cost=cost, flags=flags)
