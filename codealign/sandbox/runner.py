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

from codealign.errors import Canceled, InputError, SandboxFault, SandboxUnavailable
from codealign.sandbox.config import UNSAFE_BACKEND, Job, SandboxConfig
from codealign.sandbox.execution import Cost, Execution, Status, TestOutcome
from codealign.sandbox.plain import decode
from codealign.sandbox.session import ZYGOTE_PATH, ZygoteSession
from codealign.sandbox.testcases import TestPlan, plan_tests

__all__ = ["run_many", "run_one", "start_session", "assess"]

_HOST_MARGIN_S = 10.0


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


def _payload(job: Job, plan: TestPlan, config: SandboxConfig) -> dict[str, Any]:
    task = job.task
    perf_budget = task.timeout_s * config.perf_timeout_factor if job.profile else 0.0
    return {"code": job.code, "entry": task.entry_point, "setup": task.trusted_setup(),
            "calls": [c.args_src for c in plan.calls], "script_count": len(plan.scripts),
            "profile": job.profile, "perf": list(task.perf_inputs), "repeats": job.repeats,
            "timeout_s": task.timeout_s, "perf_timeout_s": perf_budget,
            "cpu_s": task.timeout_s + perf_budget, "memory_mb": task.memory_mb,
            "nproc": config.nproc, "fsize_mb": config.fsize_mb, "output_limit": config.output_limit}


def _host_timeout(job: Job, config: SandboxConfig) -> float:
    factor = 1 + (config.perf_timeout_factor if job.profile else 0)
    return job.task.timeout_s * factor + _HOST_MARGIN_S


def assess(job: Job, plan: TestPlan, response: dict[str, Any] | None, backend: str) -> Execution:
    """The trusted verdict on one zygote response (None: the sandbox stopped answering)."""
    base = dict(sample_id=job.sample_id, task_id=job.task.task_id, tests_total=plan.total,
                backend=backend)
    if response is None:
        return Execution(status=Status.TIMEOUT, tests_passed=0, detail="the sandbox stopped answering "
                         "and was replaced", flags=("sandbox-unresponsive",), **base)
    if "fault" in response:   # our machinery, not the candidate (which cannot cause a desync)
        raise SandboxFault(f"{backend} zygote failed: {response['fault']}")
    frames = response["frames"]
    record = next((f for f in frames if f.get("complete") is True), None)
    perf = next((f["perf"] for f in frames if "perf" in f), None)
    final = next((f for f in frames if f.get("final") is True), {})
    out = dict(stdout=response["stdout"], stderr=response["stderr"])
    events = list(record.get("events", [])) if record else []
    flags = list(dict.fromkeys(events))
    if response["stdout_bytes"] > len(response["stdout"].encode()):
        flags.append("stdout-truncated")
    if response["stderr_bytes"] > len(response["stderr"].encode()):
        flags.append("stderr-truncated")

    cost = Cost(cpu_s=float(final.get("cpu_s", 0.0)), peak_kb=int(final.get("peak_kb", 0)),
                wall_s=float(response["wall_s"]),
                ops=perf.get("ops") if perf and "error" not in perf else None,
                perf_cpu_s=perf.get("cpu_s") if perf and "error" not in perf else None)
    if perf and "error" in perf:
        flags.append("perf-error: " + str(perf["error"])[:200])
    if response.get("perf_timed_out"):
        flags.append("perf-timeout")

    if response["timed_out"]:
        return Execution(status=Status.TIMEOUT, tests_passed=0, cost=cost,
                         detail=f"wall-clock limit of {job.task.timeout_s:g}s reached",
                         flags=tuple(flags), **out, **base)
    tester = response["tester"]
    if record is None:
        if "signal" in tester:
            flags.append("harness-killed")
            return Execution(status=Status.TAMPERED, tests_passed=0, cost=cost, flags=tuple(flags),
                             detail=f"the trusted tester was killed by signal {tester['signal']} "
                                    "before writing its record", **out, **base)
        return Execution(status=Status.ERROR, tests_passed=0, cost=cost, flags=tuple(flags),
                         detail=f"the tester ended without a record ({tester})", **out, **base)

    load = record["load"]
    if not load["ok"]:
        status = Status.ERROR
        if "memory" in events:
            status = Status.MEMORY
        elif "exit-at-load" in events or ("ended-at-load" in events and final.get("exit") == 0):
            status = Status.TAMPERED
            flags.append("exit-at-load")
        return Execution(status=status, tests_passed=0, cost=cost, flags=tuple(dict.fromkeys(flags)),
                         detail=load["error"], **out, **base)

    outcomes = []
    for case, got in zip(plan.calls, record["calls"]):
        if "value" in got:
            try:
                passed, why = case.check(decode(got["value"]))
            except (ValueError, TypeError, KeyError) as exc:
                passed, why = False, f"undecodable result: {exc}"
        elif "opaque" in got and case.op in ("truthy", "falsy") and type(got.get("truth")) is bool:
            # `assert f(x)` asks only for truthiness, which the object's own bool() decides in
            # the original harness too; returning True/False directly would do the same.
            passed = got["truth"] is (case.op == "truthy")
            why = "" if passed else f"expected a {'true' if case.op == 'truthy' else 'false'} value, got {got['opaque']}"
        elif "opaque" in got:
            passed, why = False, f"returned a non-plain {got.get('type')} object: {got['opaque']}"
        else:
            passed, why = False, str(got.get("error", "no result"))
        outcomes.append(TestOutcome(case.name, passed, why))
    for i, got in enumerate(record["scripts"]):
        outcomes.append(TestOutcome(f"script[{i}]", bool(got.get("passed")) is True, str(got.get("error", ""))))
    accounted = len(record["calls"]) == len(plan.calls) and len(record["scripts"]) == len(plan.scripts)
    passed_count = sum(o.passed for o in outcomes)
    worker_signal = final.get("signal")
    clean_exit = final.get("exit") == 0 and worker_signal is None and tester.get("exit") == 0
    if worker_signal is not None:
        flags.append(f"candidate-signal-{signal.Signals(worker_signal).name}"
                     if worker_signal in signal.Signals._value2member_map_ else f"candidate-signal-{worker_signal}")

    # Ending the process with status 0 while tests are still running is a bid for a pass
    # (sys.exit(0), os._exit(0), exec of /bin/true, an exiting thread or timer).
    exited_early = "exit-in-call" in events or (
        "ended-in-call" in events and final.get("exit") == 0 and worker_signal is None)
    if accounted and clean_exit and passed_count == plan.total and not exited_early:
        status = Status.PASSED
    elif exited_early:
        status = Status.TAMPERED
        flags.append("exit-before-completion")
    elif worker_signal == signal.SIGXCPU:
        status = Status.TIMEOUT
    elif "memory" in events:
        status = Status.MEMORY
    elif worker_signal is not None or not accounted or not final:
        status = Status.ERROR
    else:
        status = Status.FAILED
    detail = "" if status is Status.PASSED else next((f"{o.name}: {o.detail}" for o in outcomes if not o.passed), "")
    if not accounted:
        detail = f"only {len(record['calls']) + len(record['scripts'])} of {plan.total} tests reported"
    return Execution(status=status, tests_passed=passed_count, outcomes=tuple(outcomes), cost=cost,
                     flags=tuple(dict.fromkeys(flags)), detail=detail, **out, **base)


def _with_profile(verdict: Execution, measured: Execution) -> Execution:
    """The verdict run's record with the profiling run's figures. A profiling run that did
    not pass again (a flaky or time-dependent candidate) gives no figures, and says so."""
    if not measured.passed:
        return dataclasses.replace(verdict, flags=verdict.flags + (
            f"perf-unavailable: the profiling run ended {measured.status.value}",))
    cost = dataclasses.replace(verdict.cost, ops=measured.cost.ops, perf_cpu_s=measured.cost.perf_cpu_s)
    extra = tuple(f for f in measured.flags if f.startswith("perf-") and f not in verdict.flags)
    return dataclasses.replace(verdict, cost=cost, flags=verdict.flags + extra)


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
    jobs = list(jobs)
    plans: dict[int, TestPlan] = {}
    planned = [_plan(j, plans) for j in jobs]
    results: list[Execution | None] = [None] * len(jobs)
    if not jobs:
        return []
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(jobs)):
        todo.put(i)
    errors: list[BaseException] = []
    lock = threading.Lock()
    bar = _progress(len(jobs), config.backend) if progress else None

    def work() -> None:
        session: ZygoteSession | None = None
        try:
            while not errors and not (cancel is not None and cancel()):
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                if session is None or not session.alive or (
                        config.jobs_per_sandbox and session.jobs_run >= config.jobs_per_sandbox):
                    if session is not None:
                        session.close()
                    session = start_session(config)
                job = jobs[i]
                scripts = planned[i].scripts
                secrets = {"scripts": list(scripts)} if scripts else None
                verdict_job = dataclasses.replace(job, profile=False)
                response = session.run(_payload(verdict_job, planned[i], config),
                                       _host_timeout(verdict_job, config), secrets=secrets)
                if response is None:
                    session = None
                execution = assess(job, planned[i], response, config.backend)
                if job.profile and execution.passed and session is not None:
                    # Only a sample that passed is worth measuring: the tester cannot know
                    # (the expected values stay here), so a second run measures it.
                    response = session.run(_payload(job, planned[i], config),
                                           _host_timeout(job, config), secrets=secrets)
                    if response is None:
                        session = None
                    execution = _with_profile(execution, assess(job, planned[i], response, config.backend))
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

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(config.worker_count, len(jobs)))]
    if bar is not None:
        bar[0].start()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if bar is not None:
            bar[0].stop()
    if errors:
        raise errors[0]
    if any(r is None for r in results):
        raise Canceled(f"canceled with {sum(r is None for r in results)} of {len(jobs)} jobs not run")
    return [r for r in results if r is not None]


def run_one(task, code: str, config: SandboxConfig = SandboxConfig(), *, sample_id: str = "sample",
            profile: bool = False) -> Execution:
    """Convenience: one execution (starts and stops a sandbox)."""
    return run_many([Job(sample_id, task, code, profile=profile)], config)[0]


def _progress(total: int, backend: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    progress = Progress(TextColumn(f"[bold]exec ({backend})"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), transient=False)
    return progress, progress.add_task("exec", total=total)
