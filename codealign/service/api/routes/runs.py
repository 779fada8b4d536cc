"""``/v1/runs``: start a run from a named recipe plus overrides, list, get, cancel, resume;
its rounds, one round with its DPO metrics, pairs (cursor paging), per-task results, and its
events as Server-Sent Events. Everything is read through the run reader (`codealign.runs`);
runs execute in worker processes (`codealign.service.workers`).

A caller picks a recipe (the operator's) and may change only its experiment knobs
(`codealign.service.recipes.Overrides`) and where its tasks come from (`TaskSelection`).
Resuming continues a run to the rounds it was started with, or to `rounds` (at most
`Settings.max_rounds`); a run that *succeeded* is only extended: `rounds` above the rounds it
finished, else 409 (nothing to do)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from codealign.errors import ConfigError
from codealign.jsonl import file_identity
from codealign.records import Allocation, PairRow, RoundRecord, TaskResult
from codealign.trainer.gate import TagDelta
from codealign.service.api.deps import ReadCaller, SessionDep, SettingsDep, WriteCaller
from codealign.service.api.errors import PROBLEM_RESPONSES, public_text
from codealign.service.api.idempotency import Idempotency, IdempotencyKey
from codealign.service.api.schemas import NO_NUL, PAGE_LIMIT, Tag
from codealign.service.errors import Conflict, NotFound
from codealign.service.recipes import HARD_MAX_ROUNDS, NAME, Overrides, TaskSelection
from codealign.service.settings import Settings
from codealign.service.store.models import RunRow

router = APIRouter(prefix="/v1/runs", tags=["runs"])

RoundNo = Annotated[int, PathParam(ge=0, le=100_000)]
_NOT_FOUND = {404: PROBLEM_RESPONSES[404]}
_BUSY = {409: PROBLEM_RESPONSES[409]}


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str = Field(pattern=NAME, description="A recipe in the service's configs directory (NAME.yaml).")
    name: str | None = Field(None, pattern=NAME, description="Run name (default: <config>-<UTC time>).")
    overrides: Overrides = Field(default_factory=Overrides, description=(
        "The experiment knobs to change in the recipe; everything else is the operator's."))
    tasks: TaskSelection = Field(TaskSelection.CONFIG, description=(
        "`config`: the recipe's task set; `active`: the store's active tasks (those with one of "
        "`tags`, if given), snapshotted now; `bank`, `humaneval`, `mbpp`: a task set this service "
        "knows by name."))
    tags: list[Tag] = Field(default_factory=list, max_length=32, description=(
        "With `tasks: active`: only the active tasks carrying at least one of these tags."))
    parent_run: str | None = Field(None, pattern=NAME, description="Lineage: the run this one continues.")


class RunResume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rounds: int | None = Field(None, ge=1, le=HARD_MAX_ROUNDS, description=(
        "Rounds to reach (≤ CODEALIGN_MAX_ROUNDS); default: the run's own."))


class Progress(BaseModel):
    stage: str | None = None
    done: int | None = None
    total: int | None = None


class RunPublic(BaseModel):
    name: str
    status: str
    round: int | None = None
    stage: str | None = None
    progress: Progress | None = None
    config_name: str
    parent_run: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    resumed: int = 0
    holder: dict[str, Any] | None = None


class RunList(BaseModel):
    items: list[RunPublic]


class RoundDetail(BaseModel):
    round: int
    record: RoundRecord
    train_metrics: list[dict[str, int | float | None]] = Field(description=(
        "The DPO trainer's logged figures per step (step, loss, rewards/*, logps/*)."))
    tags: list[TagDelta] = Field(default_factory=list, description=(
        "Held-out Δ per task tag (candidate − the round it was compared with, "
        "`record.incumbent_round`): Δpass@1 and Δsecure rate with their intervals, and whether the "
        "tag regressed beyond the gate's tag tolerance (the gate's decision; empty for round 0 and "
        "rounds not evaluated)."))
    allocation: Allocation | None = Field(None, description=(
        "How the round spread its samples over its train tasks, task by task with the reason "
        "(None: round 0, or a round made before allocations were recorded)."))


@dataclass(frozen=True, kw_only=True)
class IndexedPair(PairRow):
    index: int
    """The pair's position in the round's pairs (filtered as asked): pass it as `after`."""


class PairPage(BaseModel):
    items: list[IndexedPair]
    has_more: bool
    next: int | None


class TaskResults(BaseModel):
    round: int
    items: list[TaskResult]


def _run_path(settings: Settings, name: str) -> Path:
    path = Path(settings.runs_dir) / name
    if not re.fullmatch(NAME, name) or not (path / "state.json").exists():
        raise NotFound(f"no run {name!r}")
    return path


def _last_progress(reader) -> Progress | None:
    for event in reversed(reader.events()):
        if event.get("type") == "progress":
            return Progress(stage=event.get("stage"), done=event.get("done"), total=event.get("total"))
    return None


def run_public(path: Path, row: RunRow | None, settings: Settings) -> RunPublic:
    """The run as the API shows it; its failure text names no server path (`public_text`)."""
    from codealign.runs import RunReader

    reader = RunReader(path)
    state = reader.state()
    return RunPublic(name=path.name, status=state.status.value, round=state.round, stage=state.stage,
                     progress=_last_progress(reader), config_name=row.config_name if row else path.name,
                     parent_run=state.parent_run, started_at=state.started_at,
                     finished_at=state.finished_at,
                     error=None if state.error is None else public_text(state.error, settings),
                     resumed=state.resumed, holder=state.holder)


def _reader(settings: Settings, name: str):
    from codealign.runs import RunReader

    return RunReader(_run_path(settings, name), cache_dir=settings.run_cache(name))


def _started(request: Request, session, path: Path) -> tuple[JSONResponse, dict]:
    body = run_public(path, session.get(RunRow, path.name), request.app.state.settings).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/runs/{path.name}"}), body


@router.post("", status_code=202, response_model=RunPublic, responses={404: PROBLEM_RESPONSES[404], **_BUSY})
def start_run(body: RunCreate, request: Request, session: SessionDep, settings: SettingsDep,
              caller: WriteCaller, idempotency_key: IdempotencyKey = None):
    """Create a run from a recipe and start its worker (202); 409 while another run holds the lock."""

    def handle():
        import time

        from codealign.runs import create_run
        from codealign.runs.lock import RunLockHeld
        from codealign.service.intake import refresh, store_tasks
        from codealign.service.recipes import load_recipe, recipe_path
        from codealign.service.runindex import index_run

        recipe = recipe_path(settings, body.config)
        if body.tags and body.tasks is not TaskSelection.ACTIVE:
            raise ConfigError("tags select among the store's active tasks: give them with tasks: active",
                              field="tags")
        body.overrides.check_limits(settings)
        workers = request.app.state.workers
        if workers.lock().is_held():
            raise RunLockHeld("another run holds the run lock; try again when it has finished")
        name = body.name or f"{body.config}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        tasks, keep_out = None, None
        if body.tasks is TaskSelection.ACTIVE:
            validator = request.app.state.validator
            refresh(session, validator.heldout.current())     # flags as of the runs made so far
            store = store_tasks(session, body.tags)
            tasks, keep_out = store.tasks, store.keep_out
            if len(tasks) < 2:
                raise ConfigError(f"the store has {len(tasks)} active task(s)"
                                  f"{' with those tags' if body.tags else ''}; a run needs at least two",
                                  field="tasks")
        config = load_recipe(recipe, body.overrides, settings=settings, run_dir=settings.runs_dir,
                             run_name=name, tasks=body.tasks)
        parent = _run_path(settings, body.parent_run) if body.parent_run else None
        path = Path(create_run(config, tasks=tasks, parent_run=parent, keep_out=keep_out))
        index_run(session, name, path, config_name=body.config, parent_run=body.parent_run,
                  review_per_reason=settings.review_per_reason)
        session.commit()
        workers.start(name, path)
        return _started(request, session, path)

    return Idempotency.of(request, caller.owner, idempotency_key, body).respond(handle)


@router.get("", response_model=RunList)
def list_runs(session: SessionDep, settings: SettingsDep, _: ReadCaller) -> RunList:
    """Every run under the service's runs directory, newest first."""
    from codealign.runs import list_runs as engine_list_runs

    rows = {r.name: r for r in session.scalars(select(RunRow))}
    items = [run_public(Path(s.path), rows.get(Path(s.path).name), settings)
             for s in engine_list_runs(settings.runs_dir)]
    items.sort(key=lambda r: r.started_at or "", reverse=True)
    return RunList(items=items)


@router.get("/{name}", response_model=RunPublic, responses=_NOT_FOUND)
def get_run(name: str, session: SessionDep, settings: SettingsDep, _: ReadCaller) -> RunPublic:
    """State, stage, round and the last progress report of one run."""
    return run_public(_run_path(settings, name), session.get(RunRow, name), settings)


@router.post("/{name}/cancel", status_code=202, response_model=RunPublic, responses=_NOT_FOUND)
def cancel_run(name: str, session: SessionDep, settings: SettingsDep, _: WriteCaller) -> RunPublic:
    """Ask the run to stop (it ends `canceled` within seconds, resumable)."""
    from codealign.runs import request_cancel

    path = _run_path(settings, name)
    request_cancel(path)
    return run_public(path, session.get(RunRow, name), settings)


@router.post("/{name}/resume", status_code=202, response_model=RunPublic, responses={**_NOT_FOUND, **_BUSY})
def resume_run(name: str, request: Request, session: SessionDep, settings: SettingsDep,
               caller: WriteCaller, body: RunResume | None = None,
               idempotency_key: IdempotencyKey = None):
    """Start a worker on an existing run: it resumes at its first unfinished stage (409 if
    busy). A run that succeeded is extended by `rounds` above those it finished, or 409."""

    def handle():
        from codealign.runs import RunReader, RunStatus

        path = _run_path(settings, name)
        rounds = body.rounds if body else None
        if rounds is not None and rounds > settings.max_rounds:
            raise ConfigError(f"at most {settings.max_rounds} on this service (CODEALIGN_MAX_ROUNDS), "
                              f"got {rounds}", field="rounds")
        reader = RunReader(path)
        if reader.state().status is RunStatus.SUCCEEDED:
            done = max((r.round for r in reader.rounds()), default=0)
            if rounds is None or rounds <= done:
                raise Conflict(f"run {name!r} succeeded with {done} round(s); give rounds above {done} "
                               "to extend it")
        request.app.state.workers.start(name, path, rounds=rounds)
        return _started(request, session, path)

    return Idempotency.of(request, caller.owner, idempotency_key, body).respond(handle)


# Per run directory: rounds.jsonl's `file_identity` and the round records as JSON.
_rounds_json: dict[Path, tuple[list[int] | None, bytes]] = {}


def _rounds_body(path: Path) -> bytes:
    """The run's round records as the JSON array `list_rounds` returns, read through the run
    reader again only when rounds.jsonl changed (a run appends one line a round; dashboards
    poll the list)."""
    from codealign.runs import RunReader

    stamp = file_identity(path / "rounds.jsonl")
    cached = _rounds_json.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    body = json.dumps([r.to_dict() for r in RunReader(path).rounds()], ensure_ascii=False,
                      separators=(",", ":")).encode()
    _rounds_json[path] = (stamp, body)
    return body


@router.get("/{name}/rounds", response_model=list[RoundRecord], responses=_NOT_FOUND)
def list_rounds(name: str, settings: SettingsDep, _: ReadCaller) -> Response:
    """The run's round records (as rounds.jsonl): status, policy, metrics."""
    return Response(_rounds_body(_run_path(settings, name)), media_type="application/json")


def _round_record(reader, name: str, k: int) -> RoundRecord:
    record = next((r for r in reader.rounds() if r.round == k), None)
    if record is None:
        raise NotFound(f"run {name!r} has no round {k}")
    return record


@router.get("/{name}/rounds/{k}", response_model=RoundDetail, responses=_NOT_FOUND)
def get_round(name: str, k: RoundNo, settings: SettingsDep,
              _: ReadCaller) -> RoundDetail:
    """One round's record, its DPO metrics per logged step, its held-out Δ per task tag and its
    allocation of samples."""
    reader = _reader(settings, name)
    record = _round_record(reader, name, k)
    return RoundDetail(round=k, record=record, train_metrics=reader.train_metrics(k) if k > 0 else [],
                       tags=list(record.gate.decision.tags) if record.gate is not None else [],
                       allocation=reader.allocation(k) if k > 0 else None)


@router.get("/{name}/rounds/{k}/pairs", response_model=PairPage, responses=_NOT_FOUND)
def list_pairs(name: str, k: RoundNo, settings: SettingsDep, _: ReadCaller,
               after: Annotated[int | None, Query(ge=0)] = None,
               limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 50,
               reason: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
               task_id: Annotated[str | None, Query(max_length=256, pattern=NO_NUL)] = None) -> PairPage:
    """The round's preference pairs, `limit` at a time; filters: reason, task."""
    reader = _reader(settings, name)
    _round_record(reader, name, k)
    pairs = reader.pairs(k, reason=reason, task_id=task_id)
    start = 0 if after is None else after + 1
    page = pairs[start:start + limit]
    has_more = start + limit < len(pairs)
    items = [IndexedPair(index=start + i, **vars(p)) for i, p in enumerate(page)]
    return PairPage(items=items, has_more=has_more, next=start + len(page) - 1 if has_more else None)


@router.get("/{name}/rounds/{k}/tasks", response_model=TaskResults, responses=_NOT_FOUND)
def task_results(name: str, k: RoundNo, settings: SettingsDep,
                 _: ReadCaller) -> TaskResults:
    """Per-task results of round k (held-out: its evaluation; train: its own samples)."""
    reader = _reader(settings, name)
    _round_record(reader, name, k)
    return TaskResults(round=k, items=reader.task_results(k))


@router.get("/{name}/events", responses={200: {"content": {"text/event-stream": {}},
                                               "description": "Server-Sent Events"}, **_NOT_FOUND})
async def run_events(name: str, request: Request, settings: SettingsDep, _: ReadCaller,
                     after: Annotated[int, Query(ge=0)] = 0,
                     last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None):
    """The run's events as Server-Sent Events (`id` = seq, `event` = type, `data` = JSON), from
    `after` (or Last-Event-ID) on; the stream ends once the run is in a terminal state."""
    from sse_starlette.sse import EventSourceResponse

    from codealign.service.api.eventtail import POLL_S

    path = _run_path(settings, name)
    if last_event_id is not None and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    tail = request.app.state.tails.of(path)

    async def stream():
        seq = after
        while True:
            await tail.refresh()
            terminal = tail.terminal
            for event_seq, kind, data in tail.after(seq):
                yield {"id": str(event_seq), "event": kind, "data": data}
                seq = event_seq
            if terminal or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    return EventSourceResponse(stream(), ping=15)
