"""The dashboard's pages: an APIRouter the service app includes at `/`.

Pages (each needs a read key, given once in the login form and kept in an HttpOnly,
SameSite=Strict cookie; a key never appears in a URL)::

    /                                 runs and nights: status, duration, resumed, next night
    /runs/{run}                       overview: pass@1 / pass@k per round, Δ with 95% CIs
    /runs/{run}/matrix                tasks × rounds pass rate, sortable by Δ
    /runs/{run}/tasks/{task}          prompt, tests, samples per round with verdicts
    /runs/{run}/flips?a=&b=           fail→pass, pass→fail (first), always, never
    /runs/{run}/quality               secure rate, cost, radon, tokens per round
    /runs/{run}/dpo?round=            per-step DPO metrics, collapse-guard figures
    /runs/{run}/pairs?round=&reason=&task=   chosen vs rejected, diff, margin histogram
    /runs/{run}/live                  a running run's progress, following its events
    /runs/{run}/events?after=N        (JSON) state + events after seq N, for the live page

Every figure comes from `views.RunView` (the run reader); nothing here computes one.
"""


import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from codealign.errors import InputError
from codealign.service.dashboard.render import STATIC, render
from codealign.service.dashboard.views import DPO_SERIES, PAIR_REASONS, RunView, run_view, runs_index

__all__ = ["install", "dashboard_router", "mount_static", "login_redirect", "LoginRequired", "COOKIE"]

COOKIE = "codealign_session"
LIVE_ROWS = 200                       # events shown on the live page (the newest)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class LoginRequired(Exception):
    """No valid read key in the cookie: the page answers with a redirect to the login form."""


def mount_static(app) -> None:
    """Serve the vendored uPlot and the dashboard's CSS/JS at /static (call once per app)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard-static")


def dashboard_router(run_dir: str | Path | Callable[[], Path], authenticate: Callable[[str], bool], *,
                     next_night: Callable[[], datetime | None] | None = None,
                     secure_cookie: bool = False) -> APIRouter:
    """The dashboard's routes over the runs under `run_dir` (a path, or a callable giving it).

    `authenticate(key)` says whether `key` may read (the service's API-key check);
    `next_night()` gives the next scheduled night, if a scheduler runs.
    """
    router = APIRouter(include_in_schema=False)

    def runs_root() -> Path:
        return Path(run_dir() if callable(run_dir) else run_dir)

    def reader(key: Annotated[str | None, Cookie(alias=COOKIE)] = None) -> None:
        if not key or not authenticate(key):
            raise LoginRequired()

    Authed = Annotated[None, Depends(reader)]

    def the_run(run: str, _: Authed) -> RunView:
        path = runs_root() / run
        if not RUN_NAME.fullmatch(run) or not path.is_dir():
            raise HTTPException(404, f"no run named {run!r}")
        try:
            return run_view(path)
        except InputError as exc:               # not a run directory
            raise HTTPException(404, str(exc)) from None

    Run = Annotated[RunView, Depends(the_run)]

    def page(template: str, view: RunView | None = None, **context) -> HTMLResponse:
        if view is not None:
            context |= {"run": view.name, "state": view.state.to_dict()}
        return HTMLResponse(render(template, user=True, links=True, **context))

    def round_or_404(view: RunView, k: int | None, default: int | None) -> int:
        rounds = [r["round"] for r in view.rounds]
        k = default if k is None else k
        if k not in rounds:
            raise HTTPException(404, f"run {view.name} has no round {k}")
        return k

    @router.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(render("login.html", next=_local(next), error=""))

    @router.post("/login")
    def login(key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
        if not key or not authenticate(key):
            return HTMLResponse(render("login.html", next=_local(next), error="That key is not valid "
                                       "for reading (a read, write or admin key is needed)."), status_code=401)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=secure_cookie, path="/")
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    def index(_: Authed) -> HTMLResponse:
        return page("index.html", idx=runs_index(runs_root(), next_night))

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
        rounds = [r["round"] for r in view.rounds]
        if not rounds:
            raise HTTPException(404, f"run {view.name} has no finished round yet")
        a, b = round_or_404(view, a, rounds[0]), round_or_404(view, b, rounds[-1])
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
    def pairs(view: Run, round: int | None = None, reason: str = "", task: str = "") -> HTMLResponse:
        rounds = [r["round"] for r in view.rounds if r["round"]]
        if not rounds:
            raise HTTPException(404, f"run {view.name} has no round with pairs yet")
        k = round_or_404(view, round, rounds[-1])
        if reason and reason not in PAIR_REASONS:
            raise HTTPException(422, f"reason must be one of {', '.join(PAIR_REASONS)}, got {reason!r}")
        return page("pairs.html", view, p=view.pairs(k, reason or None, task or None),
                    rounds=rounds, reasons=PAIR_REASONS)

    @router.get("/runs/{run}/live", response_class=HTMLResponse)
    def live(view: Run) -> HTMLResponse:
        return page("live.html", view, pr=view.progress(0, keep=LIVE_ROWS))

    @router.get("/runs/{run}/events")
    def events(view: Run, after: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
        return JSONResponse(view.progress(after))

    return router


def login_redirect(request: Request, exc: LoginRequired) -> Response:
    """The app's handler for `LoginRequired`: pages go to the login form, JSON gets 401."""
    if request.url.path.endswith("/events"):
        return JSONResponse({"title": "login required", "status": 401}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)


def install(app, run_dir, authenticate, **options) -> None:
    """Include the dashboard in `app`: its routes, its static files and its login redirect."""
    app.include_router(dashboard_router(run_dir, authenticate, **options))
    mount_static(app)
    app.add_exception_handler(LoginRequired, login_redirect)


def _local(target: str) -> str:
    """Only same-site paths as redirect targets (no open redirect to another host)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
