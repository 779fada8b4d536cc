"""The local executor: a pool of sandboxes on this machine, one thread each.

Each thread holds one live sandbox (`work.start_session`) and takes items off a shared
queue until it is empty, an error stops the pool, or the cancel callback says stop. A
sandbox is replaced when it stopped answering (the item in flight then reads as a timeout
of the sandbox) and after `SandboxConfig.jobs_per_sandbox` jobs (which bounds any slow leak
in the zygote; runs are isolated from each other already).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.session import ZygoteSession
from codealign.sandbox.work import Cancel, OnResult, Result, Work, collected, perform, start_session

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """`config.worker_count` sandboxes at a time (an `Executor`)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def run(self, items: Sequence[Work], on_result: OnResult | None = None,
            cancel: Cancel | None = None) -> list[Result]:
        items = list(items)
        results: list[Result | None] = [None] * len(items)
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(items)):
            todo.put(i)
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work() -> None:
            session: ZygoteSession | None = None
            try:
                while not errors and not (cancel is not None and cancel()):
                    try:
                        i = todo.get_nowait()
                    except queue.Empty:
                        return
                    session = self._fresh(session)
                    result, alive = perform(session, items[i], self.config)
                    if not alive:
                        session = None     # already closed by the session itself
                    results[i] = result
                    with lock:
                        if on_result is not None:
                            on_result(i, result)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                errors.append(exc)
            finally:
                if session is not None:
                    session.close()

        threads = [threading.Thread(target=work, daemon=True)
                   for _ in range(min(self.config.worker_count, len(items)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return collected(results)

    def _fresh(self, session: ZygoteSession | None) -> ZygoteSession:
        """`session` if it can take another job, else a new one."""
        limit = self.config.jobs_per_sandbox
        if session is not None and session.alive and not (limit and session.jobs_run >= limit):
            return session
        if session is not None:
            session.close()
        return start_session(self.config)
