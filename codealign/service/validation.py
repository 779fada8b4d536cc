"""Task validation: every submitted task runs in the sandbox before it becomes `active`.

A task is `active` when
  * its record is well formed and its tests parse (the host only ever parses them, with `ast`);
  * its reference solution passes its own tests in the sandbox;
  * its tests FAIL a trivially wrong answer: the entry point with a body of ``return None``
    (the same as ``pass``). Tests that accept anything are rejected with that reason;
  * then its **test strength** is measured (`codealign.judges.strength.measure_strength`, in
    the sandbox): `Settings.validation_mutants` mutants of the reference (40 by default, as
    `codealign tasks check` and the threshold's calibration use) run against its tests. Tests
    that kill fewer than `Settings.weak_tests_threshold` of the non-equivalent mutants are
    *weak*: the task is accepted with a ``weak-tests`` warning, or rejected with that reason
    when `Settings.strict_tests` says so;
  * and an accepted task is checked against the held-out tasks of the service's runs
    (`codealign.service.intake`): a near duplicate is flagged (kept out of training), not
    rejected.
Anything else ends `rejected` with the reason; a hostile reference or test (one that loops,
exits, forges output, eats memory) is just data here: the sandbox reports it and the task is
rejected. Never a crash.

The queue is the store itself: tasks in status `validating`. It is bounded
(`Settings.validation_queue`): a submission that would overfill it gets 503 + Retry-After,
the seconds the measured rate (`Throughput`) needs to make room. Restarting the service
resumes validation where it stopped.

Fair share: one writer cannot stall everyone. The queue is taken round robin across the
submitting keys (`TaskRow.owner`): each key's oldest task, then each key's second, ..., the
keys served longest ago (or never) first within each turn (`fair_order`). One
`Validator` thread runs a batch of up to `BATCH` tasks in that order over
`Settings.validation_workers` sandboxes, and settles each task the moment its two executions
are in (not at the batch's end). When a key with nothing in the running batch submits and the
batch has run for `SLICE_S`, the batch stops taking new executions (the running ones finish)
and the next batch, in the new round-robin order, starts: a newcomer waits for at most
`SLICE_S` plus one execution per sandbox, however slow the tasks ahead of it. The two
executions of every task of the batch run first, together; then each task that passed them
has its strength measured, one task at a time in the batch's order (the sandboxes run its
mutants in parallel), and is settled. A newcomer stops that too: the running executions
finish, and a task whose strength was not measured yet keeps its two executions' result
for its next turn, when only its strength is measured.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import func, select, update

from codealign.errors import Canceled, InputError, SandboxFault, SandboxUnavailable
from codealign.service.store.db import Database
from codealign.service.store.models import TaskRow, TaskStatus, utcnow

__all__ = ["Validator", "Verdict", "Throughput", "trivial_candidate", "judge_task", "judge_strength",
           "queue_length", "fair_order"]

log = logging.getLogger("codealign.service.validation")
BATCH = 16
RETRY_S = 10.0
SLICE_S = 1.0


def trivial_candidate(entry_point: str) -> str:
    """The wrong answer every task's tests must reject."""
    return f"def {entry_point}(*args, **kwargs):\n    return None\n"


@dataclass(frozen=True)
class Verdict:
    """How a task is settled: its status, the reason of a rejection, and for a task that got as
    far as the strength measurement its `TestStrength` and warnings (row values)."""

    status: TaskStatus
    reason: str | None = None
    strength: dict | None = None
    warnings: tuple[dict, ...] = ()


def queue_length(session) -> int:
    return session.scalar(select(func.count()).select_from(TaskRow)
                          .where(TaskRow.status == TaskStatus.VALIDATING.value)) or 0


def fair_order(queued: list[tuple[int, str]], served: dict[str, int], limit: int) -> list[int]:
    """The first `limit` of the queued tasks ``(pk, owner)`` taken round robin across owners:
    each owner's oldest, then each one's second, ...; within a turn the owner served longest
    ago first (`served`: owner -> when, a counter; never served: first), then the oldest task.

    >>> fair_order([(1, "a"), (2, "a"), (3, "a"), (4, "b")], {"a": 7}, 3)
    [4, 1, 2]
    """
    by_owner: dict[str, list[int]] = {}
    for pk, owner in sorted(queued):
        by_owner.setdefault(owner, []).append(pk)
    owners = sorted(by_owner, key=lambda o: (served.get(o, -1), by_owner[o][0]))
    order: list[int] = []
    for turn in range(max((len(v) for v in by_owner.values()), default=0)):
        order += [by_owner[o][turn] for o in owners if turn < len(by_owner[o])]
        if len(order) >= limit:
            break
    return order[:limit]


class Throughput:
    """Tasks settled per second, measured over the last `WINDOW_S` seconds (at least two
    settlements, else unknown)."""

    WINDOW_S = 300.0

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def settled(self, count: int = 1) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.extend([now] * count)
            while self._times and now - self._times[0] > self.WINDOW_S:
                self._times.popleft()

    def rate(self) -> float | None:
        with self._lock:
            if len(self._times) < 2:
                return None
            span = max(time.monotonic() - self._times[0], 1e-3)
            return len(self._times) / span

    def seconds_for(self, tasks: int) -> int:
        """Seconds until `tasks` more are settled at the measured rate (1 task/s unmeasured),
        for a Retry-After header: at least 1, at most an hour."""
        rate = self.rate() or 1.0
        return max(1, min(3600, math.ceil(tasks / rate)))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prepare(record: dict):
    """The Task and its test plan, or the reason it is malformed (host-side checks only)."""
    import ast

    from codealign.sandbox import plan_tests
    from codealign.tasks import Task
    from codealign.tasks.similarity import content_key

    name = "record"
    try:
        task = Task.from_dict(record)
        plan_tests(task.tests, task.entry_point)
        for name, source in (("reference", task.reference or ""), ("setup", task.setup)):
            ast.parse(source)
        content_key(task)           # leak control must be able to compare it
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


def judge_strength(strength, threshold: float, strict: bool) -> Verdict:
    """The decision from a task's measured test strength (`TaskStrength`): active, with a
    ``weak-tests`` warning when its tests kill too few mutants (rejected instead if `strict`)."""
    from codealign.judges.strength import weak_tests
    from codealign.service.api.schemas import TaskWarning, TestStrength, WarningCode

    record = TestStrength(mutants=strength.mutants, killed=strength.killed,
                          likely_equivalent=strength.equivalent, score=strength.score,
                          survivors=[r.mutant.description for r in strength.survivors],
                          why=strength.why).model_dump(mode="json")
    weak = weak_tests(strength, threshold)
    if weak is None:
        return Verdict(TaskStatus.ACTIVE, strength=record)
    if strict:
        return Verdict(TaskStatus.REJECTED, f"{weak} (this service rejects weak tests)", strength=record)
    return Verdict(TaskStatus.ACTIVE, strength=record,
                   warnings=(TaskWarning(code=WarningCode.WEAK_TESTS, detail=weak).model_dump(mode="json"),))


def _jobs(task) -> list:
    from codealign.sandbox import Job
    from codealign.tasks import reference_id

    return [Job(reference_id(task), task, task.reference),
            Job(f"{task.task_id}#trivial", task, trivial_candidate(task.entry_point))]


class Validator:
    """The background thread that validates queued tasks. `notify(owner)` wakes it. Between
    batches it re-checks the active tasks against the held-out set when that changed
    (`codealign.service.intake.refresh`)."""

    def __init__(self, db: Database, settings) -> None:
        from codealign.service.intake import HeldoutIndex

        self.db, self.settings = db, settings
        self.backend, self.workers = settings.sandbox_backend, settings.validation_workers
        self.heldout = HeldoutIndex(settings.runs_dir, settings.similarity())
        self.throughput = Throughput()
        self._passed: dict[int, object] = {}       # task pk -> its reference's execution (strength next)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._preempt = threading.Event()
        self._batch_owners: frozenset[str] = frozenset()
        self._served: dict[str, int] = {}           # owner -> when its tasks last ran (a counter)
        self._clock = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="codealign-validator", daemon=True)
        self._thread.start()
        self._wake.set()

    def notify(self, owner: str | None = None) -> None:
        """New tasks are queued (by `owner`): a running batch without that owner yields."""
        if owner is not None and self._batch_owners and owner not in self._batch_owners:
            self._preempt.set()
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
                self.refresh_leaks()
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

    def refresh_leaks(self) -> int:
        """Re-check the active tasks checked against an older held-out set; how many changed."""
        from codealign.service.intake import refresh

        try:
            with self.db.session() as session:
                changed = refresh(session, self.heldout.current())
        except Exception:  # noqa: BLE001 - a fault of ours: validation goes on, flags wait
            log.exception("leak control: re-checking the active tasks failed")
            return 0
        if changed:
            log.info("leak control: %d active task(s) changed near-duplicate flag", changed)
        return changed

    def _settle(self, pk: int, verdict: Verdict, leak: dict | None = None) -> None:
        """Settle task `pk`; `leak`: its leak-control columns (`intake.near_duplicate_values`)."""
        values = {"status": verdict.status.value, "reason": verdict.reason, "strength": verdict.strength,
                  "warnings": list(verdict.warnings), "updated_at": utcnow(), **(leak or {})}
        with self.db.session() as session:
            # Only a task still queued: one retired meanwhile stays retired.
            session.execute(update(TaskRow).where(TaskRow.pk == pk,
                                                  TaskRow.status == TaskStatus.VALIDATING.value)
                            .values(**values))
            session.commit()
        self._passed.pop(pk, None)
        self.throughput.settled()

    def _finish(self, row, task, reference, config, cancel, heldout) -> None:
        """Measure the strength of a task that passed its two executions, check it against the
        held-out set, settle it. Raises `Canceled` (the task stays queued)."""
        from codealign.judges.strength import measure_strength
        from codealign.service.intake import near_duplicate_values

        s = self.settings
        try:
            strength, = measure_strength([task], config, references={task.task_id: reference},
                                         limit=s.validation_mutants, cancel=cancel)
        except SandboxFault as exc:
            self._settle(row.pk, Verdict(TaskStatus.REJECTED, "the sandbox failed on this task while "
                                         f"measuring its tests' strength: {_short(str(exc))}"))
            return
        verdict = judge_strength(strength, s.weak_tests_threshold, s.strict_tests)
        leak = None
        if verdict.status is TaskStatus.ACTIVE:
            leak = near_duplicate_values(heldout.check(task, row.content_key), heldout.digest,
                                         list(verdict.warnings))
        self._settle(row.pk, verdict, leak)

    def validate_batch(self) -> int:
        """Validate up to BATCH queued tasks, in fair order; returns how many were settled."""
        from codealign.sandbox import SandboxConfig, run_many

        with self.db.session() as session:
            queued = session.execute(select(TaskRow.pk, TaskRow.owner)
                                     .where(TaskRow.status == TaskStatus.VALIDATING.value)).all()
            chosen = fair_order([(pk, owner) for pk, owner in queued], self._served, BATCH)
            waiting = {pk for pk, _ in queued}      # (a task retired meanwhile is forgotten)
            self._passed = {pk: e for pk, e in self._passed.items() if pk in waiting}
            found = {r.pk: r for r in session.scalars(select(TaskRow).where(TaskRow.pk.in_(chosen)))}
        rows = [found[pk] for pk in chosen if pk in found]
        if not rows:
            return 0
        for row in rows:
            self._clock += 1
            self._served[row.owner] = self._clock
        settled = 0
        ready = []
        for row in rows:
            task, problem = _prepare(row.record)
            if problem is not None:
                self._settle(row.pk, Verdict(TaskStatus.REJECTED, problem))
                settled += 1
            else:
                ready.append((row, task))
        config = SandboxConfig(backend=self.backend, workers=self.workers)
        first = [(row, task) for row, task in ready if row.pk not in self._passed]
        jobs = [job for _, task in first for job in _jobs(task)]
        pending: dict[int, dict[int, object]] = {}      # task index -> {job offset: execution}
        lock = threading.Lock()

        def judged(row, task, reference, trivial) -> None:
            nonlocal settled
            verdict = judge_task(task, reference, trivial)
            if verdict.status is TaskStatus.ACTIVE:
                self._passed[row.pk] = reference        # its strength is measured next
                return
            self._settle(row.pk, verdict)
            with lock:
                settled += 1

        def on_result(i: int, execution) -> None:
            index, offset = divmod(i, 2)
            with lock:
                runs = pending.setdefault(index, {})
                runs[offset] = execution
                if len(runs) < 2:
                    return
            judged(*first[index], runs[0], runs[1])

        def cancel() -> bool:
            return self._stop.is_set() or (self._preempt.is_set() and time.monotonic() - started > SLICE_S)

        self._batch_owners = frozenset(row.owner for row, _ in ready)
        self._preempt.clear()
        started = time.monotonic()
        try:
            try:
                run_many(jobs, config, on_result=on_result, cancel=cancel)
            except SandboxFault:
                # Find the task that broke the sandbox: one task at a time, so a fault reads as
                # that task's rejection instead of stalling the queue.
                for index, (row, task) in enumerate(first):
                    if len(pending.get(index, {})) == 2:
                        continue
                    try:
                        judged(row, task, *run_many(_jobs(task), config))
                    except SandboxFault as exc:
                        self._settle(row.pk, Verdict(TaskStatus.REJECTED,
                                                     f"the sandbox failed on this task: {_short(str(exc))}"))
                        settled += 1
            heldout = self.heldout.current()
            for row, task in ready:                 # the strength of those that passed, in turn
                reference = self._passed.get(row.pk)
                if reference is None:
                    continue
                if cancel():
                    raise Canceled("a new submitter is waiting")
                self._finish(row, task, reference, config, cancel, heldout)
                settled += 1
        except Canceled:
            log.info("validation batch yielded to a new submitter (%d of %d tasks settled)",
                     settled, len(rows))
        finally:
            self._batch_owners = frozenset()
        return settled
