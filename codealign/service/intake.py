"""Leak control at task intake: exact duplicates refused, near duplicates of held-out tasks
flagged and kept out of training.

**Exact duplicates** (`codealign.tasks.similarity.content_key`: the same prompt, tests, setup
and reference up to formatting and comments) of a task the service knows are refused at
submission with the id they duplicate (409, ``duplicate_of``): the tasks of the store that are
not rejected (the partial unique index on ``tasks.content_key`` decides, so two concurrent
submissions cannot both get in) and the tasks of the named task sets a run may use
(`TaskSelection`: ``bank``, ``humaneval``, ``mbpp``, those installed here; `NamedSets`). An
identical resubmission of a stored task is no duplicate: it is that task (200).

**Near duplicates** of a held-out task are flagged at validation: the task is accepted (it
is a fine task) with the `NearDuplicate` record and a ``near-duplicate`` warning, and every
run made from the store's tasks leaves it out of its train side (`store_tasks` gives the run
engine the flagged ids and why; the run's split.json records them). The held-out set that
counts is the union of the held-out tasks of **every run this service knows** (each run
directory under `Settings.runs_dir`: its ``split.json`` and ``tasks.jsonl``), nightly
lineages and API runs alike: the store's tasks feed every lineage of the service, and a task
held out anywhere must not be trained on by any of them. The comparison is
`codealign.tasks.similarity` with the thresholds of `Settings.similarity`.

`HeldoutIndex` keeps, per run directory, what it read (re-read when either file is
replaced), and one `SimilarityIndex` keyed by *content*: the digest of the comparison's
settings and the sorted content keys of the held-out tasks. Another night of the same tasks
changes nothing; a new held-out task makes a new index, and the validator then re-checks
the active tasks checked against an older digest (`refresh`; a task's ``leak_index`` is the
digest it was checked against). Everything here parses with `ast` and never runs task code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codealign.errors import InputError
from codealign.jsonl import file_identity
from codealign.service.api.schemas import NearDuplicate, PartSimilarity, TaskWarning, WarningCode
from codealign.service.store.models import TaskRow, TaskStatus
from codealign.tasks import Task
from codealign.tasks.similarity import Fingerprint, SimilarityConfig, SimilarityIndex, content_key, fingerprint

__all__ = ["NamedSets", "HeldoutIndex", "Heldout", "StoreTasks", "task_key", "near_duplicate_values",
           "store_tasks", "fill_content_keys", "refresh"]

log = logging.getLogger("codealign.service.intake")
MAX_PRINTS = 100_000    # fingerprints kept in memory (held-out and store tasks), then dropped


def task_key(record: dict) -> str | None:
    """The content key of a stored task record; None when the record is no task or does not
    parse (such a task is rejected as malformed by validation)."""
    try:
        return content_key(Task.from_dict(record))
    except (InputError, TypeError, ValueError, RecursionError, MemoryError):
        return None


class NamedSets:
    """content key -> (task id, set name) of the named task sets installed here, loaded once
    per process and again when a set's file changes. A set that is not installed is skipped
    (logged once): a run could not use it either."""

    _lock = threading.Lock()
    _sets: dict[str, tuple[list[int] | None, dict[str, str]]] = {}   # name -> (file identity, keys)
    _merged: tuple[tuple, dict[str, tuple[str, str]]] | None = None
    _missing: set[str] = set()

    @classmethod
    def names(cls) -> list[str]:
        from codealign.service.recipes import TaskSelection

        return [s.named_set for s in TaskSelection if s.named_set is not None]

    @classmethod
    def keys(cls) -> dict[str, tuple[str, str]]:
        from codealign.tasks.loaders import load_tasks, resolve_spec

        with cls._lock:
            stamps = []
            for name in cls.names():
                try:
                    path = resolve_spec(name)
                except InputError as exc:
                    if name not in cls._missing:
                        cls._missing.add(name)
                        log.info("leak control: the task set %r is not installed here (%s)", name, exc)
                    stamps.append((name, None))
                    continue
                stamp = file_identity(path)
                stamps.append((name, stamp))
                if name not in cls._sets or cls._sets[name][0] != stamp:
                    keys: dict[str, str] = {}
                    try:
                        for task in load_tasks(path):
                            keys.setdefault(content_key(task), task.task_id)
                    except InputError as exc:     # the operator's file: logged, not the caller's fault
                        log.error("leak control: the task set %r cannot be read: %s", name, exc)
                        keys = {}
                    cls._sets[name] = (stamp, keys)
            stamp_key = tuple((n, tuple(s) if s else None) for n, s in stamps)
            if cls._merged is None or cls._merged[0] != stamp_key:
                merged: dict[str, tuple[str, str]] = {}
                for name, stamp in stamps:
                    if stamp is not None:
                        for key, task_id in cls._sets[name][1].items():
                            merged.setdefault(key, (task_id, name))
                cls._merged = (stamp_key, merged)
            return cls._merged[1]


@dataclass(frozen=True)
class Heldout:
    """The held-out set as it is now: its `digest` (what a task's ``leak_index`` records), the
    index, and the run each held-out task id was first found held out in."""

    digest: str
    index: SimilarityIndex
    runs: dict[str, str]
    source: "HeldoutIndex"

    def check(self, task: Task, key: str | None = None) -> NearDuplicate | None:
        """The held-out task `task` (content key `key`, if known) nearly duplicates, or None
        (also for a task too deeply nested to compare: validation rejects it as malformed)."""
        if not len(self.index):
            return None
        mine = self.source.fingerprint(task, key)
        if mine is None:
            return None
        found = self.index.check(mine)
        if not found.near_duplicate:
            return None
        if found.exact is not None:
            return NearDuplicate(of=found.exact, run=self.runs[found.exact], score=1.0, exact=True,
                                 parts={})
        best = found.best
        return NearDuplicate(of=best.task_id, run=self.runs[best.task_id], score=round(best.score, 4),
                             exact=False, parts={p: PartSimilarity(ast=None if s.ast is None else round(s.ast, 4),
                                                                   shingle=round(s.shingle, 4))
                                                 for p, s in best.parts.items()})


class HeldoutIndex:
    """The held-out tasks of every run under `runs_dir`, as one `Heldout` (see the module
    docstring). Thread-safe; `current()` costs two stats per run when nothing changed."""

    def __init__(self, runs_dir: str | Path, config: SimilarityConfig) -> None:
        self.runs_dir, self.config = Path(runs_dir), config
        self._lock = threading.Lock()
        self._runs: dict[Path, tuple[list, list[tuple[str, Task]]]] = {}   # run -> (stamp, [(key, task)])
        self._current: Heldout | None = None
        self._prints: dict[tuple[str, str], Fingerprint] = {}     # (content key, task id) -> print

    def _read_run(self, run: Path) -> list[tuple[str, Task]]:
        """(content key, task) of the run's held-out tasks; none for a run that cannot be read."""
        from codealign.runs.engine import SPLIT_FILE, read_task_snapshot

        try:
            held = set(json.loads((run / SPLIT_FILE).read_text(encoding="utf-8"))["heldout"])
            tasks = [t for t in read_task_snapshot(run) if t.task_id in held]
        except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
            log.warning("leak control: the held-out tasks of run %s cannot be read (%s): skipped", run.name, exc)
            return []
        keyed = [(task_key(t.to_dict()), t) for t in tasks]
        return [(key, t) for key, t in keyed if key is not None]

    def current(self) -> Heldout:
        from codealign.runs.engine import SPLIT_FILE, TASKS_FILE

        with self._lock:
            runs = sorted(p for p in self.runs_dir.iterdir() if (p / SPLIT_FILE).exists()) \
                if self.runs_dir.is_dir() else []
            for run in runs:
                stamp = [file_identity(run / SPLIT_FILE), file_identity(run / TASKS_FILE)]
                if run not in self._runs or self._runs[run][0] != stamp:
                    self._runs[run] = (stamp, self._read_run(run))
            for gone in set(self._runs) - set(runs):
                del self._runs[gone]
            unique: dict[str, Task] = {}
            owners: dict[str, str] = {}
            for run in runs:
                for key, task in self._runs[run][1]:
                    if key not in unique:
                        unique[key] = task
                    owners.setdefault(task.task_id, run.name)
            h = hashlib.sha256(repr(self.config).encode())
            for key in sorted(unique):
                h.update(key.encode())
            digest = h.hexdigest()
            if self._current is None or self._current.digest != digest:
                prints = [p for p in (self.fingerprint(t, key) for key, t in unique.items()) if p is not None]
                self._current = Heldout(digest, SimilarityIndex(prints, self.config), owners, self)
            else:   # the same tasks; a run that held one may have come or gone
                self._current = Heldout(digest, self._current.index, owners, self)
            return self._current

    def fingerprint(self, task: Task, key: str | None = None) -> Fingerprint | None:
        """`task`'s fingerprint, kept by content key (`key`, when the caller knows it); None
        for a task too deeply nested to compare (logged)."""
        try:
            key = key or content_key(task)
            cached = self._prints.get((key, task.task_id))
            if cached is None:
                cached = fingerprint(task, self.config)
        except InputError as exc:
            log.warning("leak control: task %s cannot be compared (%s)", task.task_id, exc)
            return None
        if (key, task.task_id) not in self._prints:
            if len(self._prints) >= MAX_PRINTS:
                self._prints.clear()
            self._prints[key, task.task_id] = cached
        return cached


def near_duplicate_values(found: NearDuplicate | None, digest: str, warnings: list | None) -> dict:
    """The task row's leak-control columns for a check's result: ``near_duplicate``,
    ``leak_index`` and ``warnings`` (its ``near-duplicate`` entry set or removed, the others kept)."""
    kept = [w for w in (warnings or []) if w.get("code") != WarningCode.NEAR_DUPLICATE.value]
    if found is not None:
        what = "an exact copy" if found.exact else f"a near duplicate (similarity {found.score:.2f})"
        kept.append(TaskWarning(code=WarningCode.NEAR_DUPLICATE, detail=(
            f"kept out of training: {what} of held-out task {found.of} (run {found.run})")).model_dump(mode="json"))
    return {"near_duplicate": None if found is None else found.model_dump(mode="json"),
            "leak_index": digest, "warnings": kept}


def refresh(session: Session, heldout: Heldout) -> int:
    """Re-check against `heldout` the active tasks checked against another held-out set (or
    never); returns how many changed flag. Commits."""
    rows = session.execute(select(TaskRow.pk, TaskRow.record, TaskRow.content_key, TaskRow.warnings,
                                  TaskRow.near_duplicate)
                           .where(TaskRow.status == TaskStatus.ACTIVE.value,
                                  (TaskRow.leak_index != heldout.digest) | TaskRow.leak_index.is_(None))).all()
    changed = 0
    for pk, record, key, warnings, before in rows:
        found = heldout.check(Task.from_dict(record), key)
        values = near_duplicate_values(found, heldout.digest, warnings)
        changed += (values["near_duplicate"] is None) != (before is None)
        # Only while still active and not checked meanwhile (by the validator or a request).
        session.execute(update(TaskRow).where(TaskRow.pk == pk, TaskRow.status == TaskStatus.ACTIVE.value)
                        .values(**values))
    session.commit()
    return changed


@dataclass(frozen=True)
class StoreTasks:
    """The store's active tasks for a run, and the ids to keep out of its train side, with why."""

    tasks: list[Task]
    keep_out: dict[str, str]


def store_tasks(session: Session, tags: list[str] | None = None) -> StoreTasks:
    """The one snapshot of the store's tasks for a run (``tasks: active`` and the nightly
    job): the active tasks, oldest first (with `tags`: those carrying one of them), and the
    flagged ones' reasons for the run engine (`codealign.runs.create_run`'s `keep_out`)."""
    from codealign.service.store.models import TaskTag

    query = select(TaskRow).where(TaskRow.status == TaskStatus.ACTIVE.value).order_by(TaskRow.pk)
    if tags:
        query = query.where(TaskRow.pk.in_(select(TaskTag.task_pk).where(TaskTag.tag.in_(tags))))
    tasks, keep_out = [], {}
    for row in session.scalars(query):
        tasks.append(Task.from_dict(row.record))
        if row.near_duplicate is not None:
            flag = NearDuplicate.model_validate(row.near_duplicate)
            keep_out[row.task_id] = (f"near duplicate of held-out task {flag.of} (run {flag.run}, "
                                     f"similarity {flag.score:.2f})")
    return StoreTasks(tasks, keep_out)


def fill_content_keys(db) -> int:
    """Give the stored tasks without a content key (stored before leak control) theirs, oldest
    first; a task whose key an older task not rejected already has keeps none (logged: two
    such tasks predate the rule). Returns how many got one."""
    from sqlalchemy.exc import IntegrityError

    filled = 0
    with db.session() as session:
        rows = session.execute(select(TaskRow.pk, TaskRow.task_id, TaskRow.record)
                               .where(TaskRow.content_key.is_(None)).order_by(TaskRow.pk)).all()
        for pk, task_id, record in rows:
            key = task_key(record)
            if key is None:
                continue
            try:
                session.execute(update(TaskRow).where(TaskRow.pk == pk).values(content_key=key))
                session.commit()
                filled += 1
            except IntegrityError:
                session.rollback()
                log.warning("leak control: stored task %s duplicates an older stored task exactly; "
                            "it keeps no content key", task_id)
    return filled
