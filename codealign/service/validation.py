"""Task validation: every submitted task runs in the sandbox before it becomes `active`.

A task is `active` when
  * its record is well formed and its tests parse (the host only ever parses them, with `ast`);
  * its reference solution passes its own tests in the sandbox;
  * its tests FAIL a trivially wrong answer: the entry point with a body of ``return None``
    (the same as ``pass``). Tests that accept anything are rejected with that reason.
Anything else ends `rejected` with the reason; a hostile reference or test (one that loops,
exits, forges output, eats memory) is just data here: the sandbox reports it and the task is
rejected. Never a crash.

The queue is the store itself: tasks in status `validating`, oldest first. It is bounded
(`Settings.validation_queue`): a submission that would overfill it gets 503 + Retry-After.
Restarting the service resumes validation where it stopped. One `Validator` thread takes
batches and fans each out over `Settings.validation_workers` sandboxes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import func, select, update

from codealign.errors import InputError, SandboxFault, SandboxUnavailable
from codealign.service.store.db import Database
from codealign.service.store.models import TaskRow, TaskStatus, utcnow

__all__ = ["Validator", "Verdict", "trivial_candidate", "judge_task", "queue_length"]

log = logging.getLogger("codealign.service.validation")
BATCH = 16
RETRY_S = 10.0


def trivial_candidate(entry_point: str) -> str:
    """The wrong answer every task's tests must reject."""
    return f"def {entry_point}(*args, **kwargs):\n    return None\n"


@dataclass(frozen=True)
class Verdict:
    status: TaskStatus
    reason: str | None = None


def queue_length(session) -> int:
    return session.scalar(select(func.count()).select_from(TaskRow)
                          .where(TaskRow.status == TaskStatus.VALIDATING.value)) or 0


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prepare(record: dict):
    """The Task and its test plan, or the reason it is malformed (host-side checks only)."""
    import ast

    from codealign.sandbox import plan_tests
    from codealign.tasks import Task

    name = "record"
    try:
        task = Task.from_dict(record)
        plan_tests(task.tests, task.entry_point)
        for name, source in (("reference", task.reference or ""), ("setup", task.setup)):
            ast.parse(source)
        return task, None
    except InputError as exc:
        return None, f"malformed task: {exc}"
    except SyntaxError as exc:
        return None, f"malformed task: {name} does not parse: {exc.msg} (line {exc.lineno})"
    except (RecursionError, MemoryError, ValueError) as exc:
        return None, f"malformed task: cannot be parsed ({type(exc).__name__})"


def judge_task(task, reference_run, trivial_run) -> Verdict:
    """The decision from the two sandbox executions."""
    if not reference_run.sandbox_passed:
        why = reference_run.detail or reference_run.stderr or ""
        return Verdict(TaskStatus.REJECTED,
                       f"the reference does not pass its own tests ({reference_run.status.value}, "
                       f"{reference_run.tests_passed}/{reference_run.tests_total}): {_short(why)}")
    if trivial_run.sandbox_passed:
        return Verdict(TaskStatus.REJECTED,
                       "the tests accept a trivial wrong answer (a body of `return None`/`pass`): "
                       "they check nothing")
    return Verdict(TaskStatus.ACTIVE)


def _jobs(task) -> list:
    from codealign.sandbox import Job

    return [Job(f"{task.task_id}#reference", task, task.reference),
            Job(f"{task.task_id}#trivial", task, trivial_candidate(task.entry_point))]


class Validator:
    """The background thread that validates queued tasks. `notify()` wakes it."""

    def __init__(self, db: Database, backend: str, workers: int) -> None:
        self.db, self.backend, self.workers = db, backend, workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="codealign-validator", daemon=True)
        self._thread.start()
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=RETRY_S)
            self._wake.clear()
            while not self._stop.is_set():
                try:
                    done = self.validate_batch()
                except SandboxUnavailable as exc:
                    log.error("task validation waits: the sandbox is unavailable: %s", exc)
                    break
                except Exception:  # noqa: BLE001 - a fault of ours: keep the thread, retry later
                    log.exception("task validation failed; retrying in %.0fs", RETRY_S)
                    break
                if done == 0:
                    break

    def validate_batch(self) -> int:
        """Validate up to BATCH queued tasks; returns how many were settled."""
        from codealign.sandbox import SandboxConfig, run_many

        with self.db.session() as session:
            rows = session.scalars(select(TaskRow).where(TaskRow.status == TaskStatus.VALIDATING.value)
                                   .order_by(TaskRow.pk).limit(BATCH)).all()
            if not rows:
                return 0
            verdicts: dict[int, Verdict] = {}
            ready = []
            for row in rows:
                task, problem = _prepare(row.record)
                if problem is not None:
                    verdicts[row.pk] = Verdict(TaskStatus.REJECTED, problem)
                else:
                    ready.append((row, task))
            config = SandboxConfig(backend=self.backend, workers=self.workers)
            jobs = [job for _, task in ready for job in _jobs(task)]
            try:
                runs = run_many(jobs, config)
                for i, (row, task) in enumerate(ready):
                    verdicts[row.pk] = judge_task(task, runs[2 * i], runs[2 * i + 1])
            except SandboxFault:
                # Find the task that broke the sandbox: one task at a time, so a fault reads
                # as that task's rejection instead of stalling the queue.
                for row, task in ready:
                    try:
                        verdicts[row.pk] = judge_task(task, *run_many(_jobs(task), config))
                    except SandboxFault as exc:
                        verdicts[row.pk] = Verdict(TaskStatus.REJECTED,
                                                   f"the sandbox failed on this task: {_short(str(exc))}")
            for row in rows:
                verdict = verdicts[row.pk]
                # Only a task still queued: one retired meanwhile stays retired.
                session.execute(update(TaskRow).where(TaskRow.pk == row.pk,
                                                      TaskRow.status == TaskStatus.VALIDATING.value)
                                .values(status=verdict.status.value, reason=verdict.reason,
                                        updated_at=utcnow()))
            session.commit()
            return len(rows)
