"""Running jobs: test planning, the worker pool, and the trusted verdict.

`run_many` fans jobs out over one sandbox per worker and turns each zygote response into
an `Execution`. The verdict is computed here, on the host: literal calls are compared with
expected values that never entered the sandbox, and a pass needs the tester's completion
record with every test accounted for and a clean exit of the candidate's process.
"""

from __future__ import annotations

import dataclasses
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from codealign.errors import Canceled, InputError, SandboxUnavailable
from codealign.sandbox.config import UNSAFE_BACKEND, Job, SandboxConfig
from codealign.sandbox.execution import Cost, Execution, Flag, Status, TestOutcome
from codealign.sandbox.session import ZYGOTE_PATH, ZygoteSession
from codealign.sandbox.testcases import CallCase, TestPlan, plan_tests
from codealign.sandbox.wire import CallReply, Response, host_timeout, job_frame, secrets_frame
from codealign.sandbox.zygote import Event

__all__ = ["run_many", "run_one", "start_session", "assess"]


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


def assess(job: Job, plan: TestPlan, response: Response | None, backend: str,
           timeout_s: float | None = None) -> Execution:
    """The trusted verdict on one zygote response (None: the sandbox stopped answering).
    `timeout_s`: the limit the run had (for the message; default the task's)."""
    config_timeout = timeout_s if timeout_s is not None else job.task.timeout_s
    base = dict(sample_id=job.sample_id, task_id=job.task.task_id, tests_total=plan.total,
                backend=backend)
    if response is None:
        return Execution(status=Status.TIMEOUT, tests_passed=0, detail="the sandbox stopped answering "
                         "and was replaced", flags=(Flag.SANDBOX_UNRESPONSIVE.text(),), **base)
    record, perf, final, tester = response.record, response.perf, response.final, response.tester
    out = dict(stdout=response.stdout, stderr=response.stderr)
    events = record.events if record is not None else ()
    flags = [Flag(e).text() for e in events]
    if response.stdout_truncated:
        flags.append(Flag.STDOUT_TRUNCATED.text())
    if response.stderr_truncated:
        flags.append(Flag.STDERR_TRUNCATED.text())

    measured = perf is not None and not perf.error
    cost = Cost(cpu_s=final.cpu_s if final else 0.0, peak_kb=final.peak_kb if final else 0,
                wall_s=response.wall_s, ops=perf.ops if measured else None,
                perf_cpu_s=perf.cpu_s if measured else None)
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


def _outcome(case: CallCase, got: CallReply) -> TestOutcome:
    """One literal call judged on the host against its expected value."""
    if got.returned:
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


def _with_profile(verdict: Execution, response: Response | None) -> Execution:
    """The verdict run's record with the figures of the measuring run (`response`). A
    measuring run that gave none (it failed, timed out, or the sandbox stopped answering)
    leaves the figures empty and says why in a diagnostic flag."""
    perf = response.perf if response is not None else None
    if response is None or perf is None or perf.error:
        why = ("the sandbox stopped answering" if response is None
               else "the measuring run timed out" if response.perf_timed_out or response.timed_out
               else perf.error[:200] if perf else "the measuring run gave no figures")
        flag = (Flag.PERF_TIMEOUT if response is not None and response.perf_timed_out
                else Flag.PERF_ERROR if perf and perf.error else Flag.PERF_UNAVAILABLE)
        return dataclasses.replace(verdict, flags=verdict.flags + (flag.text(why),))
    cost = dataclasses.replace(verdict.cost, ops=perf.ops, perf_cpu_s=perf.cpu_s)
    return dataclasses.replace(verdict, cost=cost)


def _plan(job: Job, cache: dict[int, TestPlan]) -> TestPlan:
    key = id(job.task)
    if key not in cache:
        try:
            cache[key] = plan_tests(job.task.tests, job.task.entry_point)
        except InputError as exc:
            raise InputError(f"task {job.task.task_id}: {exc}") from exc
    return cache[key]


def run_many(jobs: Sequence[Job], config: SandboxConfig = SandboxConfig(), progress: bool = False,
             on_result: Callable[[int, Execution], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> list[Execution]:
    """Execute every job, `config.worker_count` sandboxes at a time; results in job order.

    `cancel`, when given, is asked before each job is taken: once it returns true, queued
    jobs are dropped, running ones finish, and `Canceled` is raised.

    Raises SandboxUnavailable (before or while starting) when the isolation cannot run, and
    SandboxFault when our machinery breaks; untrusted code failing is never an exception.
    """
    jobs = _with_synthesised_inputs(list(jobs), config)
    plans: dict[int, TestPlan] = {}
    planned = [_plan(j, plans) for j in jobs]
    if config.executor == "ray":
        from codealign.sandbox.ray_executor import run_many_ray
        return run_many_ray(jobs, config, on_result)
    results: list[Execution | None] = [None] * len(jobs)
    if not jobs:
        return []
    # Tasks with neither perf inputs nor a reference: their passing samples are measured
    # after every verdict is in, on inputs their majority answer vouches for.
    awaiting = {j.task.task_id for j in jobs if j.profile and not j.task.perf_inputs
                and not j.task.reference} if config.synthesise_perf_inputs else set()
    held: dict[int, Execution] = {}
    todo: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
    for i in range(len(jobs)):
        todo.put((i, False))
    errors: list[BaseException] = []
    lock = threading.Lock()
    bar = _progress(len(jobs), config.backend) if progress else None

    def measure(session: ZygoteSession, i: int, execution: Execution) -> tuple[ZygoteSession | None, Execution]:
        """Only a sample that passed is worth measuring: the tester cannot know (the
        expected values stay here), so a second run measures it. It skips the tests unless
        their own calls are the workload."""
        job, plan = jobs[i], planned[i]
        needs_tests = not (job.task.perf_inputs or plan.calls)
        secrets = secrets_frame(plan.scripts) if needs_tests else None
        response = session.run(job_frame(job, plan, config, measure_only=True),
                               host_timeout(job, config), secrets=secrets)
        return (session if response is not None else None), _with_profile(execution, response)

    def work() -> None:
        session: ZygoteSession | None = None
        try:
            while not errors and not (cancel is not None and cancel()):
                try:
                    i, measuring = todo.get_nowait()
                except queue.Empty:
                    return
                if session is None or not session.alive or (
                        config.jobs_per_sandbox and session.jobs_run >= config.jobs_per_sandbox):
                    if session is not None:
                        session.close()
                    session = start_session(config)
                job, plan = jobs[i], planned[i]
                if measuring:
                    session, execution = measure(session, i, held[i])
                else:
                    verdict_job = dataclasses.replace(job, profile=False)
                    response = session.run(job_frame(verdict_job, plan, config),
                                           host_timeout(verdict_job, config),
                                           secrets=secrets_frame(plan.scripts))
                    if response is None:
                        session = None
                    execution = assess(job, plan, response, config.backend, config.task_timeout(job.task))
                    if job.profile and execution.passed and job.task.task_id in awaiting:
                        with lock:
                            held[i] = execution
                        continue
                    if job.profile and execution.passed and session is not None:
                        session, execution = measure(session, i, execution)
                results[i] = execution
                with lock:
                    if on_result is not None:
                        on_result(i, execution)
                    if bar is not None:
                        bar[0].advance(bar[1])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            errors.append(exc)
        finally:
            if session is not None:
                session.close()

    def pool() -> None:
        threads = [threading.Thread(target=work, daemon=True)
                   for _ in range(min(config.worker_count, len(jobs)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    if bar is not None:
        bar[0].start()
    try:
        pool()
        if held and not errors and not (cancel is not None and cancel()):
            voters: dict[str, list[str]] = {}
            for i in held:
                voters.setdefault(jobs[i].task.task_id, []).append(jobs[i].code)
            jobs[:] = _with_synthesised_inputs(jobs, config, voters, only=set(voters))
            for i in held:
                todo.put((i, True))
            pool()
    finally:
        if bar is not None:
            bar[0].stop()
    if errors:
        raise errors[0]
    if any(r is None for r in results):
        raise Canceled(f"canceled with {sum(r is None for r in results)} of {len(jobs)} jobs not run")
    return [r for r in results if r is not None]


def _with_synthesised_inputs(jobs: list[Job], config: SandboxConfig,
                             voters: dict[str, list[str]] | None = None,
                             only: set[str] | None = None) -> list[Job]:
    """Profiled jobs of tasks without perf inputs get the inputs synthesised from their
    tests (`codealign.sandbox.perfinputs`), when the config asks for it: judged by the
    task's reference, or by `voters` (passing samples' code per task id) for those in `only`."""
    if not config.synthesise_perf_inputs:
        return jobs
    need = {j.task.task_id: j.task for j in jobs if j.profile and not j.task.perf_inputs
            and (j.task.reference if only is None else j.task.task_id in only)}
    if not need:
        return jobs
    from codealign.sandbox.perfinputs import synthesise

    found = {tid: s.perf_inputs for tid, s in synthesise(list(need.values()), config,
                                                         voters=voters).items()
             if s.perf_inputs}
    tasks: dict[int, Any] = {}
    out = []
    for j in jobs:
        if j.profile and j.task.task_id in found and not j.task.perf_inputs:
            # one replaced Task per original, so test plans stay shared between its jobs
            task = tasks.setdefault(id(j.task), dataclasses.replace(j.task, perf_inputs=found[j.task.task_id]))
            j = dataclasses.replace(j, task=task)
        out.append(j)
    return out


def run_one(task, code: str, config: SandboxConfig = SandboxConfig(), *, sample_id: str = "sample",
            profile: bool = False) -> Execution:
    """Convenience: one execution (starts and stops a sandbox)."""
    return run_many([Job(sample_id, task, code, profile=profile)], config)[0]


def _progress(total: int, backend: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    progress = Progress(TextColumn(f"[bold]exec ({backend})"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), transient=False)
    return progress, progress.add_task("exec", total=total)
