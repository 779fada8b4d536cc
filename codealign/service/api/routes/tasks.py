"""``/v1/tasks``: submit one (202 + Location) or a batch, list with a cursor, get, retire.

A task is stored `validating` and validated in the sandbox in the background
(`codealign.service.validation`); it becomes `active` or `rejected` with the reason. An
identical resubmission returns the existing task (200). Retiring is soft: runs keep their
snapshots and rounds keep their references.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codealign.errors import InputError
from codealign.service.api.deps import ReadCaller, SessionDep, WriteCaller
from codealign.service.api.errors import PROBLEM_RESPONSES
from codealign.service.api.idempotency import Idempotency, IdempotencyKey
from codealign.service.api.schemas import (NO_NUL, PAGE_LIMIT, BatchItem, BatchResult, TaskBatch, TaskCreate,
                                           TaskLimits, TaskPage, TaskPublic)
from codealign.service.errors import Conflict, Duplicate, NotFound, Overloaded, ServiceError
from codealign.service.store.models import TaskRow, TaskStatus, TaskTag, utcnow
from codealign.service.validation import queue_length

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def _public(row, tags: list[str]) -> TaskPublic:
    """`row`: a TaskRow, or a result row of `_PUBLIC` (the same names)."""
    r = row.record
    return TaskPublic(task_id=row.task_id, status=TaskStatus(row.status), reason=row.reason,
                      source=row.source, tags=tags, prompt=r["prompt"],
                      entry_point=r["entry_point"], prompt_style=r["prompt_style"], tests=r["tests"],
                      setup=r["setup"], reference=r["reference"], perf_inputs=list(r["perf_inputs"]),
                      limits=TaskLimits(timeout_s=r["timeout_s"], memory_mb=r["memory_mb"]),
                      content_hash=row.content_hash, content_key=row.content_key,
                      near_duplicate=row.near_duplicate, strength=row.strength,
                      warnings=row.warnings or [], created_at=row.created_at, updated_at=row.updated_at)


def task_public(row: TaskRow) -> TaskPublic:
    return _public(row, [t.tag for t in row.tags])


# Table columns, not ORM attributes: the session then runs them as plain Core statements.
_T, _TT = TaskRow.__table__.c, TaskTag.__table__.c
_PUBLIC = select(_T.pk, _T.task_id, _T.status, _T.reason, _T.source, _T.record, _T.content_hash,
                 _T.content_key, _T.near_duplicate, _T.strength, _T.warnings,
                 _T.created_at, _T.updated_at).order_by(_T.pk)   # built once: building costs too
_TAGS = select(_TT.task_pk, _TT.tag).order_by(_TT.task_pk, _TT.tag)


def read_public(session: Session, where, limit: int | None = None) -> list[tuple[int, TaskPublic]]:
    """(pk, task) for the tasks matching `where`, in pk order: two plain queries (the rows, then
    their tags) instead of loading ORM objects, which cost the read endpoints most of their time."""
    rows = session.execute(_PUBLIC.where(*where).limit(limit)).all()
    tags: dict[int, list[str]] = {row.pk: [] for row in rows}
    if rows:
        for pk, tag in session.execute(_TAGS.where(_TT.task_pk.in_(list(tags)))):
            tags[pk].append(tag)
    return [(row.pk, _public(row, tags[row.pk])) for row in rows]


def model_response(model: BaseModel) -> Response:
    """`model` as JSON, sent as is: FastAPI would validate a model we built once more, in
    another thread-pool hop."""
    return Response(model.model_dump_json(), media_type="application/json")


def task_location(task_id: str) -> str:
    return "/v1/tasks/" + quote(task_id, safe="/")


def _content_hash(body: TaskCreate, fields: dict | None = None) -> str:
    """What identifies a submission: its id (if given) and every task field."""
    fields = fields if fields is not None else body.task_fields()
    return hashlib.sha256(json.dumps({"task_id": body.task_id, **fields}, sort_keys=True).encode()).hexdigest()


def _check_capacity(session: Session, request: Request, bodies: list[TaskCreate]) -> None:
    """503 + Retry-After when the new tasks among `bodies` would overfill the validation queue
    (identical resubmissions are not new: they are answered even when it is full). Retry-After
    is the time the validator's measured rate needs to make room."""
    limit = request.app.state.settings.validation_queue
    waiting = queue_length(session)
    if waiting + len(bodies) <= limit:
        return
    hashes = {_content_hash(b) for b in bodies}
    known = set(session.scalars(select(TaskRow.content_hash).where(TaskRow.content_hash.in_(hashes))))
    adding = len(hashes - known)
    if adding and waiting + adding > limit:
        excess = waiting + adding - limit
        raise Overloaded(f"{waiting} tasks are waiting for validation (limit {limit}); retry later",
                         retry_after=request.app.state.validator.throughput.seconds_for(excess))


def _duplicate(task_id: str, of: str, where: str) -> Duplicate:
    return Duplicate(f"task {task_id!r} is an exact duplicate of {where} task {of!r} (the same prompt, "
                     "tests, setup and reference up to formatting and comments)", duplicate_of=of)


def submit_one(session: Session, body: TaskCreate, owner: str = "open") -> tuple[TaskRow, bool]:
    """Store the task, or return the identical one already stored. Returns (row, created); a
    created row is a detached copy of what was stored. `owner` is the submitting caller's.
    The insert comes first (the unique content hash, content key and id decide; most
    submissions are new). A record the Task checks refuse (blank prompt, one that does not
    parse, ...) is stored `rejected` with the reason; one that passes waits `validating` for
    the sandbox. Raises `Duplicate` (an exact duplicate of a stored task not rejected, or of a
    named task set's: `codealign.service.intake`) or Conflict (the id is taken)."""
    from codealign.service.intake import NamedSets
    from codealign.tasks import Task
    from codealign.tasks.similarity import content_key

    fields = body.task_fields()
    content_hash = _content_hash(body, fields)
    task_id = body.task_id or f"t-{content_hash[:16]}"
    record = {"task_id": task_id, **fields}
    status, reason, key = TaskStatus.VALIDATING, None, None
    try:
        task = Task.from_dict(record)
    except InputError as exc:
        status, reason = TaskStatus.REJECTED, f"malformed task: {exc}"
    else:
        try:
            key = content_key(task)
        except InputError:      # a part that does not parse: validation rejects it, saying where
            pass
    if key is not None and key in (named := NamedSets.keys()):
        existing = session.scalar(select(TaskRow).where(TaskRow.content_hash == content_hash))
        if existing is not None:        # stored before the rule: it is this very submission
            return existing, False
        of, name = named[key]
        raise _duplicate(task_id, of, f"the {name}")
    now = utcnow()
    values = {"task_id": task_id, "content_hash": content_hash, "status": status.value, "reason": reason,
              "source": fields["source"], "owner": owner, "record": record, "content_key": key,
              "warnings": [], "created_at": now, "updated_at": now}
    try:   # plain INSERTs: the ORM's flush of a new row and its tags cost more than the rest
        pk = session.execute(insert(TaskRow.__table__).values(values)).inserted_primary_key[0]
        if fields["tags"]:
            session.execute(insert(TaskTag.__table__), [{"task_pk": pk, "tag": t} for t in fields["tags"]])
        session.commit()
    except IntegrityError:   # stored before (or by a concurrent request): the same content, or the id
        session.rollback()
        existing = session.scalar(select(TaskRow).where(TaskRow.content_hash == content_hash))
        if existing is not None:
            return existing, False
        if key is not None:
            twin = session.scalar(select(TaskRow.task_id).where(
                TaskRow.content_key == key, TaskRow.status != TaskStatus.REJECTED.value))
            if twin is not None:
                raise _duplicate(task_id, twin, "the stored") from None
        raise Conflict(f"a different task is already stored under the id {task_id!r}") from None
    return TaskRow(pk=pk, **values, tags=[TaskTag(tag=t) for t in fields["tags"]]), True


def _respond(row: TaskRow, created: bool) -> tuple[JSONResponse, dict]:
    body = task_public(row).model_dump(mode="json")
    return JSONResponse(body, status_code=202 if created else 200,
                        headers={"Location": task_location(row.task_id)}), body


@router.post("", status_code=202, response_model=TaskPublic,
             responses={200: {"model": TaskPublic, "description": "An identical task already exists"},
                        202: {"description": "Accepted; validation runs in the background"},
                        409: PROBLEM_RESPONSES[409], 413: PROBLEM_RESPONSES[413], 503: PROBLEM_RESPONSES[503]})
def submit_task(body: TaskCreate, request: Request, session: SessionDep,
                caller: WriteCaller, idempotency_key: IdempotencyKey = None):
    """Submit one task: 202 + Location while it validates; 200 for an identical resubmission
    (even when the queue is full)."""

    def handle():
        _check_capacity(session, request, [body])
        row, created = submit_one(session, body, caller.owner)
        if created:
            request.app.state.validator.notify(caller.owner)
        return _respond(row, created)

    return Idempotency.of(request, caller.owner, idempotency_key, body).respond(handle)


@router.post("/batch", response_model=BatchResult,
             responses={413: PROBLEM_RESPONSES[413], 503: PROBLEM_RESPONSES[503]})
def submit_batch(body: TaskBatch, request: Request, session: SessionDep,
                 caller: WriteCaller, idempotency_key: IdempotencyKey = None):
    """Submit up to 100 tasks; one result per item, in order (an item's error is its own)."""

    def handle():
        _check_capacity(session, request, body.tasks)
        results = []
        for i, item in enumerate(body.tasks):
            try:
                row, created = submit_one(session, item, caller.owner)
            except ServiceError as exc:
                results.append(BatchItem(index=i, outcome="error", status=exc.status, detail=str(exc),
                                         duplicate_of=exc.duplicate_of if isinstance(exc, Duplicate) else None))
            else:
                results.append(BatchItem(index=i, outcome="created" if created else "existing",
                                         status=202 if created else 200, task=task_public(row)))
        request.app.state.validator.notify(caller.owner)
        out = BatchResult(results=results).model_dump(mode="json")
        return JSONResponse(out, status_code=200), out

    return Idempotency.of(request, caller.owner, idempotency_key, body).respond(handle)


@router.get("", response_model=TaskPage)
def list_tasks(session: SessionDep, _: ReadCaller,
               after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Cursor: the `next` of the previous page.")] = None,
               limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50,
               status: TaskStatus | None = None,
               tag: Annotated[str | None, Query(max_length=128, pattern=NO_NUL)] = None,
               source: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None) -> Response:
    """Tasks in submission order, `limit` at a time; `has_more` and `next` continue the walk."""
    where = []
    if after is not None:
        where.append(_T.pk > after)
    if status is not None:
        where.append(_T.status == status.value)
    if source is not None:
        where.append(_T.source == source)
    if tag is not None:
        where.append(_T.pk.in_(select(_TT.task_pk).where(_TT.tag == tag)))
    rows = read_public(session, where, limit + 1)
    page = rows[:limit]
    has_more = len(rows) > limit
    return model_response(TaskPage(items=[task for _, task in page], has_more=has_more,
                                   next=page[-1][0] if has_more else None))


def _get(session: Session, task_id: str) -> TaskRow:
    row = session.scalar(select(TaskRow).where(TaskRow.task_id == task_id))
    if row is None:
        raise NotFound(f"no task {task_id!r}")
    return row


@router.get("/{task_id:path}", response_model=TaskPublic, responses={404: PROBLEM_RESPONSES[404]})
def get_task(task_id: str, session: SessionDep, _: ReadCaller) -> Response:
    """One task with its status (and the reason when rejected)."""
    found = read_public(session, [_T.task_id == task_id])
    if not found:
        raise NotFound(f"no task {task_id!r}")
    return model_response(found[0][1])


@router.delete("/{task_id:path}", response_model=TaskPublic, responses={404: PROBLEM_RESPONSES[404]})
def retire_task(task_id: str, session: SessionDep, _: WriteCaller) -> TaskPublic:
    """Retire a task (soft): it leaves future runs; past runs and rounds keep it."""
    row = _get(session, task_id)
    if row.status != TaskStatus.RETIRED.value:
        row.status, row.updated_at = TaskStatus.RETIRED.value, utcnow()
        session.commit()
    return task_public(row)
