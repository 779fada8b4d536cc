"""What the executors run, and how one piece of it runs on one live sandbox.

Every piece of work is a frozen record that carries all it needs (the job, its test plan,
the inputs chosen for its task), so an executor only decides where it runs: the local pool
and the Ray workers compute the same thing from the same records.

* `Run`: one sample. The verdict run (its tests; literal calls compared on the host), then,
  when the job asks for profiling, `measure` is set and it passed, the measuring run on the
  same sandbox.
* `Measure`: the measuring run alone, for a sample whose verdict is already in (a task whose
  perf inputs the passing samples vote for: they are known only after every verdict).
* `Probe`: one program run once on each of a task's candidate inputs (input synthesis),
  traced and stopped past an operation budget.

`perform(session, item, config)` does one item and says whether the session survived it;
`lost(item, why, backend)` is the result of an item whose worker or node was lost.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from codealign.errors import Canceled, SandboxUnavailable
from codealign.sandbox.assess import assess, with_profile
from codealign.sandbox.config import UNSAFE_BACKEND, Job, SandboxConfig
from codealign.sandbox.execution import Execution, Flag, Status
from codealign.sandbox.session import ZYGOTE_PATH, ZygoteSession
from codealign.sandbox.strengthen import DiffCase
from codealign.sandbox.testcases import TestPlan
from codealign.sandbox.wire import ProbeReply, host_timeout, job_frame, probe_frame, secrets_frame
from codealign.tasks.task import Task

__all__ = ["Run", "Measure", "Probe", "ProbeResult", "Work", "Result", "OnResult", "Cancel",
           "perform", "lost", "collected", "start_session"]


@dataclass(frozen=True)
class Run:
    """One sample's verdict run, then (`measure`, and the job profiles) its measuring run."""

    job: Job
    plan: TestPlan
    measure: bool = True


@dataclass(frozen=True)
class Measure:
    """The measuring run of a sample whose verdict `execution` (a pass) is already in."""

    job: Job
    plan: TestPlan
    execution: Execution


@dataclass(frozen=True)
class Probe:
    """`code` (a task's reference, or a passing sample) run once on each of `sources`
    (argument-tuple sources, evaluated in the task's trusted setup), traced and stopped past
    `budget_ops` line events; `groups[i]` is the group of input i (smallest first).
    `values`: report each result itself (else a digest); `check`: the task's input contract,
    asked before each input; `work_factor`: see `wire.probe_frame`."""

    task: Task
    code: str
    sources: tuple[str, ...]
    groups: tuple[int, ...]
    budget_ops: int
    label: str = "probe"
    values: bool = False
    check: str | None = None
    work_factor: int = 0


@dataclass(frozen=True)
class ProbeResult:
    """What each probed input gave; `error` when the probe could not run at all, and
    `transient` when that says nothing about the program (a lost worker, a sandbox that
    stopped answering): such a result is not cached."""

    replies: tuple[ProbeReply, ...] = ()
    error: str = ""
    transient: bool = False
    op_s: float | None = None        # this machine's CPU seconds per line event (digest probes)


Work = Union[Run, Measure, Probe]
Result = Union[Execution, ProbeResult]
OnResult = Callable[[int, Result], None]   # (item index, its result), as each one finishes
Cancel = Callable[[], bool]                # true: stop handing out work


def start_session(config: SandboxConfig) -> ZygoteSession:
    """Start one sandbox of the configured backend (raises SandboxUnavailable)."""
    if config.backend == "bwrap":
        from codealign.sandbox.bwrap import start_bwrap
        return start_bwrap(config)
    if config.backend == "docker":
        from codealign.sandbox.docker import start_docker
        return start_docker(config)
    if config.backend == UNSAFE_BACKEND:
        import tempfile
        print("WARNING: backend 'unsafe-no-isolation': candidate code runs with this user's full "
              "access to files, network and processes.", file=sys.stderr)
        work = tempfile.mkdtemp(prefix="codealign-unsafe-")
        return ZygoteSession([sys.executable, "-I", "-S", "-B", str(ZYGOTE_PATH)],
                             name=UNSAFE_BACKEND, work_dir=work, owns_work_dir=True)
    raise SandboxUnavailable(f"unknown backend {config.backend!r}")


def perform(session: ZygoteSession, item: Work, config: SandboxConfig) -> tuple[Result, bool]:
    """Do `item` on `session`; returns (its result, whether the session is still usable)."""
    if isinstance(item, Probe):
        return _probe(session, item, config)
    if isinstance(item, Measure):
        return _measure(session, item.job, item.plan, item.execution, config)
    job, plan = item.job, item.plan
    verdict_job = dataclasses.replace(job, profile=False)
    budgets = [c.budget_ops if isinstance(c, DiffCase) else None for c in plan.calls]
    response = session.run(job_frame(verdict_job, plan, config, budgets=budgets),
                           host_timeout(verdict_job, config), secrets=secrets_frame(plan.scripts))
    execution = assess(job, plan, response, config.backend, config.task_timeout(job.task))
    if response is None:
        return execution, False
    if item.measure and job.profile and execution.status is Status.PASSED:
        return _measure(session, job, plan, execution, config)
    return execution, True


def _measure(session: ZygoteSession, job: Job, plan: TestPlan, execution: Execution,
             config: SandboxConfig) -> tuple[Execution, bool]:
    """Only a sample that passed is worth measuring: the tester cannot know (the expected
    values stay on the host), so a second run measures it. It skips the tests unless their
    own calls are the workload (the task's own calls: the differential cases check, they
    are no workload)."""
    plan = TestPlan(tuple(c for c in plan.calls if not isinstance(c, DiffCase)), plan.scripts)
    needs_tests = not (job.task.perf_inputs or plan.calls)
    response = session.run(job_frame(job, plan, config, measure_only=True), host_timeout(job, config),
                           secrets=secrets_frame(plan.scripts) if needs_tests else None)
    return with_profile(execution, response), response is not None


def _probe(session: ZygoteSession, item: Probe, config: SandboxConfig) -> tuple[ProbeResult, bool]:
    task = dataclasses.replace(item.task, perf_inputs=item.sources)
    job = Job(f"{task.task_id}::{item.label}", task, item.code, profile=True)
    response = session.run(probe_frame(job, config, item.groups, item.budget_ops, values=item.values,
                                       check=item.check, work_factor=item.work_factor),
                           host_timeout(job, config))
    if response is None:
        return ProbeResult(error="the sandbox stopped answering", transient=True), False
    if response.record is not None and not response.record.loaded:
        return ProbeResult(error=f"did not load: {response.record.load_error}"), True
    return ProbeResult(response.probes, response.probe_error, op_s=response.op_s), True


def lost(item: Work, why: str, backend: str) -> Result:
    """The result of `item` when its worker or node was lost (twice): an infrastructure
    `error` for a sample (never `failed`: it says nothing about the code; consumers leave it
    out of pass rates and pairs), its verdict without figures for a measuring run."""
    why = f"infrastructure: the worker failed twice ({why[:500]})"
    if isinstance(item, Probe):
        return ProbeResult(error=why, transient=True)
    if isinstance(item, Measure):
        return dataclasses.replace(item.execution,
                                   flags=item.execution.flags + (Flag.PERF_UNAVAILABLE.text(why),))
    return Execution(sample_id=item.job.sample_id, task_id=item.job.task.task_id, status=Status.ERROR,
                     tests_passed=0, tests_total=0, backend=backend,
                     flags=(Flag.INFRASTRUCTURE.text(),), detail=why)


def collected(results: list[Result | None]) -> list[Result]:
    """The results of a run of work items, once every one is in; `Canceled` (saying how
    many did not run) when a cancel left some out."""
    missing = sum(r is None for r in results)
    if missing:
        raise Canceled(f"canceled with {missing} of {len(results)} jobs not run")
    return [r for r in results if r is not None]
