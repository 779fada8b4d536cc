"""The Ray executor: sandbox work fanned out over a Ray cluster.

``SandboxConfig(executor="ray", ray_address=...)`` picks it (`executor.executor_for`). It
takes the same work items as the local executor (`codealign.sandbox.work`: each carries its
job, test plan and the inputs chosen for its task, so a worker computes exactly what the
local pool would) and honours the same contract (`codealign.sandbox.executor`). Each Ray
task is stateless: it receives a small chunk of items, performs them with a one-sandbox
`LocalExecutor` on its node, and returns their results; nothing is kept on the worker
between tasks. Tasks ask for ``num_cpus=1`` and one unit of the custom ``sandbox``
resource, so only nodes started with it (``ray start --resources='{"sandbox": N}'``:
machines with bubblewrap or Docker and the sandbox image) take them. At most twice as many
tasks as the cluster has ``sandbox`` slots are in flight (`ray.wait`); `on_result` is
called for each item of a chunk as the chunk comes back, and `cancel` is asked before each
chunk is sent and while waiting: once it says stop, no chunk is sent, those in flight
finish and are reported, and `Canceled` is raised.

Faults are sorted by whose they are:

* The candidate's: data, as locally (the local executor inside the task computes the
  verdict; the trusted expected values travel inside the task, never into the sandbox).
* Ours (``SandboxFault``, ``SandboxUnavailable``, ``InputError`` raised in the task): raised
  here, as the local executor would raise them.
* The infrastructure's (the worker process crashed or was OOM-killed, its node was lost, the
  result object was lost): the chunk is retried once, one item per task, so a crash is pinned
  to the item that causes it; an item whose retry fails too gets `work.lost`'s result: for a
  sample an `Execution` with status ``error``, the flag ``infrastructure`` and the Ray error
  in `detail`. It is never ``failed``: consumers must leave it out of pass rates and pairs
  (`Execution.infrastructure_error`).

Without `ray_address` (or Ray's own ``RAY_ADDRESS`` variable) and with no Ray running in this
process, a local Ray is started with one ``sandbox``
slot per worker (``SandboxConfig.worker_count``). Test hook: ``CODEALIGN_RAY_KILL=<sample_id>``
makes the worker running that sample's item die (``os._exit``) on every attempt;
``<sample_id>@<path>`` only while `path` does not exist (it is created first: one crash).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from codealign.errors import SandboxUnavailable
from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.work import Cancel, OnResult, Probe, Result, Work, collected, lost

__all__ = ["RayExecutor", "KILL_ENV", "RESOURCE"]

RESOURCE = "sandbox"
KILL_ENV = "CODEALIGN_RAY_KILL"
_MAX_CHUNK = 16
_POLL_S = 0.5     # how often a wait for results looks at the cancel callback


def _perform_chunk(items: list[Work], config: SandboxConfig, kill_at: str) -> list[Result]:
    """The Ray task: the local executor on one sandbox of this node."""
    from codealign.sandbox.local import LocalExecutor

    if kill_at:
        sample_id, _, marker = kill_at.partition("@")
        if any(not isinstance(item, Probe) and item.job.sample_id == sample_id for item in items) \
                and not (marker and Path(marker).exists()):
            if marker:
                Path(marker).touch()
            os._exit(1)  # noqa: SLF001 - the test hook: a worker that dies mid-task
    return LocalExecutor(dataclasses.replace(config, executor="local", workers=1)).run(items)


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
    slots = int(ray.cluster_resources().get(RESOURCE, 0))  # type: ignore[no-untyped-call]  # ray: unannotated
    if slots < 1:
        raise SandboxUnavailable(
            f"no node of the Ray cluster offers the {RESOURCE!r} resource; start the nodes that "
            f"can run the sandbox with `ray start ... --resources='{{\"{RESOURCE}\": N}}'`")
    return slots


class RayExecutor:
    """Work items on Ray (an `Executor`; see the module docstring)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def run(self, items: Sequence[Work], on_result: OnResult | None = None,
            cancel: Cancel | None = None) -> list[Result]:
        import ray
        from ray.exceptions import RayError, RayTaskError

        items = list(items)
        if not items:
            return []
        slots = _connect(self.config)
        task = ray.remote(num_cpus=1, resources={RESOURCE: 1}, max_retries=0)(_perform_chunk)
        kill_at = os.environ.get(KILL_ENV, "")
        size = max(1, min(_MAX_CHUNK, math.ceil(len(items) / (4 * slots))))
        todo: deque[tuple[list[int], int]] = deque(
            (list(range(i, min(i + size, len(items)))), 0) for i in range(0, len(items), size))
        results: list[Result | None] = [None] * len(items)
        pending: dict[ray.ObjectRef[list[Result]], tuple[list[int], int]] = {}   # -> (item indices, attempt)

        def finish(i: int, result: Result) -> None:
            results[i] = result
            if on_result is not None:
                on_result(i, result)

        stopped = False
        try:
            while (todo and not stopped) or pending:
                stopped = stopped or (cancel is not None and cancel())
                while todo and not stopped and len(pending) < 2 * slots:
                    indices, attempt = todo.popleft()
                    pending[task.remote([items[i] for i in indices], self.config, kill_at)] = (indices, attempt)
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                if not done:
                    continue
                indices, attempt = pending.pop(done[0])
                try:
                    chunk = ray.get(done[0])
                except RayTaskError as exc:   # our own fault inside the task: raise it as such
                    raise (exc.cause if isinstance(exc.cause, BaseException) else exc) from None
                except RayError as exc:       # the worker, its node or the object was lost
                    if attempt == 0:
                        todo.extendleft(([i], 1) for i in reversed(indices))
                    else:
                        for i in indices:
                            finish(i, lost(items[i], f"{type(exc).__name__}: {exc}", self.config.backend))
                    continue
                for i, result in zip(indices, chunk):
                    finish(i, result)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
        return collected(results)
