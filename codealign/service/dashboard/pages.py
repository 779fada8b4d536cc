"""The dashboard's pages: `router`, included by the service app (`create_app`) at `/`.

Pages (a read key is asked once by the login form and kept in an HttpOnly, SameSite=Strict
cookie; a key never appears in a URL; while the store holds no key at all the service is
open, as the API is)::

    /                                 runs and nights: status, duration, resumed, next night
    /runs/{run}                       overview: pass@1 / pass@k per round, Δ with 95% CIs
    /runs/{run}/matrix                tasks × rounds pass rate, sortable by Δ
    /runs/{run}/tasks/{task}          prompt, tests, samples per round with verdicts
    /runs/{run}/flips?a=&b=           pass→fail (first), fail→pass, always, never (default: round 0
                                      against the last promoted round)
    /runs/{run}/quality               secure rate, cost, radon, tokens per round
    /runs/{run}/dpo?round=            per-step DPO metrics, collapse-guard figures
    /runs/{run}/pairs?round=&reason=&task=&start=   chosen vs rejected, diff, margin histogram
    /runs/{run}/live                  a running run's progress, following its events
    /runs/{run}/events?after=N        (JSON) state + events after seq N, for the live page
    /tasks?status=&after=             the submitted tasks (the API's `TaskPublic`): status,
                                      mutation score, warnings (weak tests, near duplicates)
    /tasks/{task}                     one submitted task: why it was rejected or flagged, its
                                      test strength and surviving mutants, the held-out task it
                                      nearly duplicates (part by part)
    /static/{file}                    the vendored uPlot and the dashboard's CSS/JS

Runs are read from the service's `settings.runs_dir` through `views.RunView` (the run
reader, keeping what it derives from each round under `settings.run_cache(run)`); nothing
here computes a figure. The next scheduled night comes from the service's
nightly scheduler (`app.state.scheduler.get().next_run`) when one runs.
"""

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from codealign.config import RUN_NAME
from codealign.errors import InputError
from codealign.service.dashboard.render import ASSETS, STATIC, render
from codealign.service.dashboard.views import DPO_SERIES, PAIR_REASONS, RunView, run_view, runs_index

__all__ = ["router", "COOKIE"]

COOKIE = "codealign_session"
LIVE_ROWS = 200                       # events shown on the live page (the newest)
STATIC_FILES = (*ASSETS, "LICENSE-uPlot.txt")

router = APIRouter(include_in_schema=False)


def _may_read(request: Request, key: str | None) -> bool:
    """The API's rule: open to loopback clients while no key was ever stored, else a known,
    unrevoked key of scope read or above (the API's key cache: a revoked key fails as fast)."""
    from codealign.service.api.deps import open_caller
    from codealign.service.errors import Unauthorized
    from codealign.service.store.models import Scope

    keys = request.app.state.keys
    try:
        with request.app.state.db.session() as session:
            if keys.is_open(session):
                return open_caller(request) is not None
        return bool(key) and keys.check(request.app.state.db, key).scope.allows(Scope.READ)
    except Unauthorized:
        return False


def require_read(request: Request, key: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> None:
    """Pages: 303 to the login form without a valid read key (JSON endpoints: 401)."""
    if _may_read(request, key):
        return
    if request.url.path.endswith("/events"):
        raise HTTPException(401, "log in first (the dashboard's login form sets the session cookie)")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "log in first", headers={"Location": f"/login?next={quote(target, safe='/')}"})


Authed = Annotated[None, Depends(require_read)]


def runs_root(request: Request) -> Path:
    return Path(request.app.state.settings.runs_dir)


def the_run(request: Request, run: str, _: Authed) -> RunView:
    path = runs_root(request) / run
    if not re.fullmatch(RUN_NAME, run) or not path.is_dir():
        raise HTTPException(404, f"no run named {run!r}")
    try:
        return run_view(path, cache_dir=request.app.state.settings.run_cache(run))
    except InputError as exc:               # not a run directory
        raise HTTPException(404, str(exc)) from None


Run = Annotated[RunView, Depends(the_run)]


def page(template: str, view: RunView | None = None, **context) -> HTMLResponse:
    if view is not None:
        context |= {"run": view.name, "state": view.state.to_dict()}
    return HTMLResponse(render(template, user=True, links=True, **context))


def round_or_404(view: RunView, k: int | None, default: int) -> int:
    k = default if k is None else k
    if k not in [r.round for r in view.rounds]:
        raise HTTPException(404, f"run {view.name} has no round {k}")
    return k


def _next_night(request: Request) -> datetime | None:
    """The nightly scheduler's next run (`app.state.scheduler`, set by the service when it
    runs the nightly job); None when there is no scheduler or it is paused."""
    scheduler = getattr(request.app.state, "scheduler", None)
    schedule = scheduler.get() if scheduler is not None else None
    return None if schedule is None or schedule.paused else schedule.next_run


def _local(target: str) -> str:
    """Only same-site paths as redirect targets (no open redirect to another host)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/") -> HTMLResponse:
    return HTMLResponse(render("login.html", next=_local(next), error=""))


@router.post("/login")
def login(request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    if not key or not _may_read(request, key):
        return HTMLResponse(render("login.html", next=_local(next), error="That key is not valid "
                                   "for reading (a read, write or admin key is needed)."), status_code=401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def index(request: Request, _: Authed) -> HTMLResponse:
    return page("index.html", idx=runs_index(runs_root(request), _next_night(request)))


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(STATIC / name, headers={"Cache-Control": "max-age=3600"})


@router.get("/runs/{run}", response_class=HTMLResponse)
def overview(view: Run) -> HTMLResponse:
    return page("overview.html", view, ov=view.overview)


@router.get("/runs/{run}/matrix", response_class=HTMLResponse)
def matrix(view: Run) -> HTMLResponse:
    return page("matrix.html", view, mx=view.matrix)


@router.get("/runs/{run}/tasks/{task_id:path}", response_class=HTMLResponse)
def task(view: Run, task_id: str) -> HTMLResponse:
    t = view.task(task_id)
    if t is None:
        raise HTTPException(404, f"run {view.name} has no task {task_id!r}")
    return page("task.html", view, t=t)


@router.get("/runs/{run}/flips", response_class=HTMLResponse)
def flips(view: Run, a: int | None = None, b: int | None = None) -> HTMLResponse:
    rounds = [r.round for r in view.rounds]
    if not rounds:
        raise HTTPException(404, f"run {view.name} has no finished round yet")
    first, last = view.flip_rounds()
    a, b = round_or_404(view, a, first), round_or_404(view, b, last)
    return page("flips.html", view, fl=view.flips(a, b), rounds=rounds)


@router.get("/runs/{run}/quality", response_class=HTMLResponse)
def quality(view: Run) -> HTMLResponse:
    return page("quality.html", view, q=view.quality)


@router.get("/runs/{run}/dpo", response_class=HTMLResponse)
def dpo(view: Run, round: int | None = None) -> HTMLResponse:
    trained = view.trained_rounds()
    d = None
    if trained:
        k = trained[-1] if round is None else round
        if k not in trained:
            raise HTTPException(404, f"run {view.name} has no trained round {k}")
        d = view.dpo(k)
    return page("dpo.html", view, d=d, trained=trained, guard=view.guard, series_names=DPO_SERIES)


@router.get("/runs/{run}/pairs", response_class=HTMLResponse)
def pairs(view: Run, round: int | None = None, reason: str = "", task: str = "",
          start: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    rounds = [r.round for r in view.rounds if r.round]
    if not rounds:
        raise HTTPException(404, f"run {view.name} has no round with pairs yet")
    k = round_or_404(view, round, rounds[-1])
    if reason and reason not in PAIR_REASONS:
        raise HTTPException(422, f"reason must be one of {', '.join(PAIR_REASONS)}, got {reason!r}")
    return page("pairs.html", view, p=view.pairs(k, reason or None, task or None, start),
                rounds=rounds, reasons=PAIR_REASONS)


@router.get("/runs/{run}/live", response_class=HTMLResponse)
def live(view: Run) -> HTMLResponse:
    return page("live.html", view, pr=view.progress(0, keep=LIVE_ROWS))


@router.get("/runs/{run}/events")
def events(view: Run, after: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    return JSONResponse(view.progress(after))


TASKS_PER_PAGE = 100


@router.get("/tasks", response_class=HTMLResponse)
def submitted_tasks(request: Request, _: Authed, status: str = "",
                    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> HTMLResponse:
    """The store's tasks (read as the API reads them), `TASKS_PER_PAGE` at a time."""
    from codealign.service.api.routes.tasks import read_public
    from codealign.service.store.models import TaskRow, TaskStatus

    statuses = [s.value for s in TaskStatus]
    if status and status not in statuses:
        raise HTTPException(422, f"status must be one of {', '.join(statuses)}, got {status!r}")
    column = TaskRow.__table__.c
    where = [column.pk > after] + ([column.status == status] if status else [])
    with request.app.state.db.session() as session:
        rows = read_public(session, where, TASKS_PER_PAGE + 1)
    more = len(rows) > TASKS_PER_PAGE
    rows = rows[:TASKS_PER_PAGE]
    return page("tasks.html", tasks=[t for _, t in rows], status=status, statuses=statuses,
                next=rows[-1][0] if more else None)


@router.get("/tasks/{task_id:path}", response_class=HTMLResponse)
def submitted_task(request: Request, _: Authed, task_id: str) -> HTMLResponse:
    from codealign.service.api.routes.tasks import read_public
    from codealign.service.store.models import TaskRow

    with request.app.state.db.session() as session:
        found = read_public(session, [TaskRow.__table__.c.task_id == task_id])
    if not found:
        raise HTTPException(404, f"no submitted task {task_id!r}")
    return page("submitted_task.html", st=found[0][1])
