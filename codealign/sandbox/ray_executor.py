"""The Ray executor: sandbox executions fanned out over a Ray cluster.

``SandboxConfig(executor="ray", ray_address=...)`` sends `run_many`'s jobs here. Each Ray
task is stateless: it receives a small chunk of jobs, runs them with the *local* executor on
one sandbox of its node (``workers=1``), and returns their `Execution` records; nothing is
kept on the worker between tasks. Tasks ask for ``num_cpus=1`` and one unit of the custom
``sandbox`` resource, so only nodes started with it (``ray start --resources='{"sandbox":
N}'``: machines with bubblewrap or Docker and the sandbox image) take them. At most twice as
many tasks as the cluster has ``sandbox`` slots are in flight (`ray.wait`); results come
back in job order, whatever order the tasks finish in.

Faults are sorted by whose they are:

* The candidate's: data, as locally (the local executor inside the task computes the
  verdict; the trusted expected values travel inside the task, never into the sandbox).
* Ours (``SandboxFault``, ``SandboxUnavailable``, ``InputError`` raised in the task): raised
  here, as the local executor would raise them.
* The infrastructure's (the worker process crashed or was OOM-killed, its node was lost, the
  result object was lost): the chunk is retried once, one job per task, so a crash is pinned
  to the job that causes it; a job whose retry fails too becomes an `Execution` with status
  ``error``, the flag ``infrastructure`` and the Ray error in `detail`. It is never
  ``failed``: consumers must leave it out of pass rates and pairs
  (`Execution.infrastructure_error`).

Without `ray_address` (or Ray's own ``RAY_ADDRESS`` variable) and with no Ray running in this
process, a local Ray is started with one ``sandbox``
slot per worker (``SandboxConfig.worker_count``). Test hook: ``CODEALIGN_RAY_KILL=<sample_id>``
makes the worker running that job die (``os._exit``) on every attempt;
``<sample_id>@<path>`` only while `path` does not exist (it is created first: one crash).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from codealign.errors import SandboxUnavailable
from codealign.sandbox.config import Job, SandboxConfig
from codealign.sandbox.execution import Execution, Flag, Status

__all__ = ["run_many_ray", "KILL_ENV", "RESOURCE"]

RESOURCE = "sandbox"
KILL_ENV = "CODEALIGN_RAY_KILL"
_MAX_CHUNK = 16


def _execute_chunk(jobs: list[Job], config: SandboxConfig, kill_at: str) -> list[Execution]:
    """The Ray task: the local executor on one sandbox of this node."""
    from codealign.sandbox.runner import run_many

    if kill_at:
        sample_id, _, marker = kill_at.partition("@")
        if any(j.sample_id == sample_id for j in jobs) and not (marker and Path(marker).exists()):
            if marker:
                Path(marker).touch()
            os._exit(1)  # noqa: SLF001 - the test hook: a worker that dies mid-task
    return run_many(jobs, dataclasses.replace(config, executor="local", workers=1))


def _connect(config: SandboxConfig) -> int:
    """Join (or start) Ray; the cluster's number of ``sandbox`` slots."""
    try:
        import ray
    except ImportError:
        raise SandboxUnavailable("executor 'ray' needs Ray: pip install 'codealign[ray]'") from None
    if not ray.is_initialized():
        address = config.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            n = config.worker_count
            ray.init(num_cpus=n, resources={RESOURCE: n}, include_dashboard=False,
                     log_to_driver=False)
    slots = int(ray.cluster_resources().get(RESOURCE, 0))
    if slots < 1:
        raise SandboxUnavailable(
            f"no node of the Ray cluster offers the {RESOURCE!r} resource; start the nodes that "
            f"can run the sandbox with `ray start ... --resources='{{\"{RESOURCE}\": N}}'`")
    return slots


def _infrastructure_error(job: Job, why: str, backend: str) -> Execution:
    return Execution(sample_id=job.sample_id, task_id=job.task.task_id, status=Status.ERROR,
                     tests_passed=0, tests_total=0, backend=backend, flags=(Flag.INFRASTRUCTURE.text(),),
                     detail=f"infrastructure: the Ray worker failed twice ({why[:500]})")


def run_many_ray(jobs: Sequence[Job], config: SandboxConfig,
                 on_result: Callable[[int, Execution], None] | None = None) -> list[Execution]:
    """`run_many` on Ray: every job's execution, in job order (see the module docstring)."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    jobs = list(jobs)
    if not jobs:
        return []
    slots = _connect(config)
    task = ray.remote(num_cpus=1, resources={RESOURCE: 1}, max_retries=0)(_execute_chunk)
    kill_at = os.environ.get(KILL_ENV, "")
    size = max(1, min(_MAX_CHUNK, math.ceil(len(jobs) / (4 * slots))))
    todo: deque[tuple[list[int], int]] = deque(
        (list(range(i, min(i + size, len(jobs)))), 0) for i in range(0, len(jobs), size))
    results: list[Execution | None] = [None] * len(jobs)
    pending: dict = {}   # ObjectRef -> (job indices, attempt)

    def finish(i: int, execution: Execution) -> None:
        results[i] = execution
        if on_result is not None:
            on_result(i, execution)

    try:
        while todo or pending:
            while todo and len(pending) < 2 * slots:
                indices, attempt = todo.popleft()
                ref = task.remote([jobs[i] for i in indices], config, kill_at)
                pending[ref] = (indices, attempt)
            done, _ = ray.wait(list(pending), num_returns=1)
            indices, attempt = pending.pop(done[0])
            try:
                executions = ray.get(done[0])
            except RayTaskError as exc:   # our own fault inside the task: raise it as such
                raise (exc.cause if isinstance(exc.cause, BaseException) else exc) from None
            except RayError as exc:       # the worker, its node or the object was lost
                if attempt == 0:
                    todo.extendleft(([i], 1) for i in reversed(indices))
                else:
                    for i in indices:
                        finish(i, _infrastructure_error(jobs[i], f"{type(exc).__name__}: {exc}",
                                                        config.backend))
                continue
            for i, execution in zip(indices, executions):
                finish(i, execution)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return [r for r in results if r is not None]
