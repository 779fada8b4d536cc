"""Running samples: `run_many`, the public entry, and the execute step behind it.

`execute(jobs, config)` runs every job in the sandbox through the executor the config names
(`codealign.sandbox.executor`: a local pool or Ray, which compute the same thing) and
returns their `Execution` records in job order, with the inputs they ran on:

1. **inputs**: the `InputSet` the caller brings (the execute stage synthesises it as a step
   of its own and keeps it in the round), or else synthesised here (cached by content);
2. **plans**: each task's tests split once (`plan_tests`) plus its differential cases (the
   reference's outputs on mutated inputs, `codealign.sandbox.strengthen`), shared by its jobs;
3. **verdicts**: one `work.Run` per job: its verdict run and, for a profiled job that
   passed, its measuring run on the same sandbox;
4. **votes**: a task with neither perf inputs nor a reference gets perf inputs from the
   majority answer of its passing samples (`inputs.vote_perf_inputs`), known only once every
   verdict is in; those samples are measured then (`work.Measure`).

`on_result(i, execution)` is called once per job, when its record is final; `progress`
shows a bar that subscribes to the same calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from codealign.errors import Canceled, InputError
from codealign.sandbox.config import Job, SandboxConfig
from codealign.sandbox.execution import Execution, Status
from codealign.sandbox.executor import Executor, executor_for
from codealign.sandbox.inputs import InputSet, synthesise_inputs, vote_perf_inputs
from codealign.sandbox.testcases import TestPlan, plan_tests
from codealign.sandbox.work import Cancel, Measure, OnResult, Run
from codealign.tasks.task import Task

__all__ = ["Executed", "execute", "run_many", "run_one"]

OnExecution = Callable[[int, Execution], None]


@dataclass(frozen=True)
class Executed:
    """Every job's execution, in job order, and the inputs they ran on (the given or
    synthesised ones, plus any perf inputs the passing samples voted for)."""

    executions: list[Execution]
    inputs: InputSet


def run_many(jobs: Sequence[Job], config: SandboxConfig = SandboxConfig(), progress: bool = False,
             on_result: OnExecution | None = None, cancel: Cancel | None = None,
             inputs: InputSet | None = None) -> list[Execution]:
    """Execute every job, `config.worker_count` sandboxes at a time; results in job order.

    `cancel`, when given, is asked before each job is taken: once it returns true, queued
    jobs are dropped, running ones finish, and `Canceled` is raised. `inputs`: the inputs
    synthesised for the jobs' tasks (None: synthesised here, cached by content).

    Raises SandboxUnavailable (before or while starting) when the isolation cannot run, and
    SandboxFault when our machinery breaks; untrusted code failing is never an exception.
    """
    return execute(jobs, config, inputs=inputs, progress=progress, on_result=on_result,
                   cancel=cancel).executions


def run_one(task: Task, code: str, config: SandboxConfig = SandboxConfig(), *,
            sample_id: str = "sample", profile: bool = False) -> Execution:
    """Convenience: one execution (starts and stops a sandbox)."""
    return run_many([Job(sample_id, task, code, profile=profile)], config)[0]


def execute(jobs: Sequence[Job], config: SandboxConfig = SandboxConfig(), *,
            inputs: InputSet | None = None, progress: bool = False,
            on_result: OnExecution | None = None, cancel: Cancel | None = None) -> Executed:
    """`run_many` with the inputs it ran on (see the module docstring)."""
    jobs = list(jobs)
    executor = executor_for(config)
    if inputs is None:
        inputs = synthesise_inputs(_tasks(jobs), config, profile=any(j.profile for j in jobs),
                                   executor=executor, cancel=cancel)
    jobs, plans = _prepare(jobs, inputs)
    voting = {j.task.task_id for j in jobs if j.profile and not j.task.perf_inputs
              and not j.task.reference} if config.synthesise_perf_inputs else set()
    results: list[Execution | None] = [None] * len(jobs)
    with _reporting(len(jobs), config.backend, progress, on_result) as report:
        def verdict(i: int, execution: Execution) -> None:
            results[i] = execution
            if not _awaits_votes(jobs[i], execution, voting):
                report(i, execution)

        _run_samples(executor, [Run(j, p, measure=j.task.task_id not in voting) for j, p in zip(jobs, plans)],
                     verdict, cancel)
        passed = {i: e for i, e in enumerate(results) if e is not None and _awaits_votes(jobs[i], e, voting)}
        held = list(passed)
        if held:
            if cancel is not None and cancel():
                raise Canceled(f"canceled with {len(held)} of {len(jobs)} jobs not measured")
            voted = _vote(executor, config, [jobs[i] for i in held], cancel)
            inputs = inputs.merged(voted)
            measures = [Measure(dataclasses.replace(jobs[i], task=voted.apply(jobs[i].task)), plans[i],
                                passed[i]) for i in held]
            for k, execution in enumerate(_run_samples(executor, measures, lambda k, e: report(held[k], e),
                                                       cancel)):
                results[held[k]] = execution
    return Executed([r for r in results if r is not None], inputs)


def _run_samples(executor: Executor, items: Sequence[Run | Measure], on_result: OnExecution,
                 cancel: Cancel | None) -> list[Execution]:
    """`executor.run` on sample runs, whose results are `Execution`s (the executor's
    contract: a result of the item's own kind, in item order)."""
    return cast(list[Execution], executor.run(items, cast(OnResult, on_result), cancel))


def _tasks(jobs: Sequence[Job]) -> list[Task]:
    return list({j.task.task_id: j.task for j in jobs}.values())


def _prepare(jobs: list[Job], inputs: InputSet) -> tuple[list[Job], list[TestPlan]]:
    """The jobs with their tasks' synthesised perf inputs, and each job's test plan with its
    task's differential cases (one replaced Task and one plan per original task, shared by
    its jobs). The task's reference itself is not compared with its own outputs."""
    tasks: dict[int, Task] = {}
    plans: dict[int, tuple[TestPlan, TestPlan]] = {}     # (own tests, with the diff cases)
    out_jobs, out_plans = [], []
    for job in jobs:
        key = id(job.task)
        if key not in tasks:
            tasks[key] = inputs.apply(job.task)
            try:
                own = plan_tests(job.task.tests, job.task.entry_point)
            except InputError as exc:
                raise InputError(f"task {job.task.task_id}: {exc}") from exc
            plans[key] = (own, inputs.plan(job.task, own))
        out_jobs.append(job if tasks[key] is job.task else dataclasses.replace(job, task=tasks[key]))
        out_plans.append(plans[key][0] if job.code == job.task.reference else plans[key][1])
    return out_jobs, out_plans


def _awaits_votes(job: Job, execution: Execution, voting: set[str]) -> bool:
    """A passing sample of a task whose perf inputs its passing samples will vote for."""
    return job.profile and job.task.task_id in voting and execution.status is Status.PASSED


def _vote(executor: Executor, config: SandboxConfig, held: list[Job], cancel: Cancel | None) -> InputSet:
    voters: dict[str, list[str]] = {}
    for job in held:
        voters.setdefault(job.task.task_id, []).append(job.code)
    return vote_perf_inputs(_tasks(held), voters, config, executor=executor, cancel=cancel)


@contextlib.contextmanager
def _reporting(total: int, backend: str, progress: bool,
               on_result: OnExecution | None) -> Iterator[OnExecution]:
    """The callback that reports a job's final record: to `on_result`, and to a progress
    bar when `progress` asks for one."""
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(f"[bold]exec ({backend})"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), transient=False)
        row = bar.add_task("exec", total=total)
        bar.start()

    def report(i: int, execution: Execution) -> None:
        if on_result is not None:
            on_result(i, execution)
        if bar is not None:
            bar.advance(row)

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()
