"""`create_app(settings)`: the FastAPI app, its lifespan and its middleware.

On start: make the home (0700) and the SQLite file (0600), upgrade the schema (Alembic), open
the store, give tasks stored before leak control their content keys and load the named task
sets' (`codealign.service.intake`), clear the idempotency records of requests that died with
a previous process,
reconcile the run index with the run directories, start the task validator, the run-worker
supervisor and the nightly scheduler (one worker process of the service runs its jobs, see
`codealign.service.scheduler`). On shutdown (SIGTERM under uvicorn): stop validating, stop the
workers (each run is left resumable), close the store.

Every response passes `HostCheck` (the Host header must be one the service answers for:
a page on another origin that rebinds its name to 127.0.0.1 gets 400) and carries
`SECURITY_HEADERS` (a CSP without inline script, no framing, no sniffing). Swagger UI at
``/docs`` is off unless `Settings.api_docs`.

Other parts of the service mount their routers in `include_routers` (marked below).
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codealign.service.api import errors
from codealign.service.api.deps import KeyCache
from codealign.service.api.eventtail import EventTails
from codealign.service.settings import Settings

__all__ = ["create_app", "BodyLimit", "HostCheck", "SecurityHeaders", "SECURITY_HEADERS", "host_allowed"]

log = logging.getLogger("codealign.service")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY",
                    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
                    "cross-origin-opener-policy": "same-origin"}
# Swagger UI (only with Settings.api_docs) runs an inline script and loads from jsdelivr.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header (``name[:port]``, ``[v6]:port``) names one of `allowed`
    (exact names, ``*.domain`` for its subdomains, ``*`` for any)."""
    if "*" in allowed:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if not host:
        return False
    return any(host == name.strip("[]") or (name.startswith("*.") and host.endswith(name[1:]))
               for name in allowed)


class HostCheck:
    """400 (problem+json) for a request whose Host header the service does not answer for
    (`Settings.hosts`): the defence against DNS rebinding of a service on loopback."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if not host_allowed(host, self.allowed):
            response = errors.problem_response(400, "Bad request", "this service does not answer for "
                                               "that Host name", instance=scope["path"])
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


class SecurityHeaders:
    """`SECURITY_HEADERS` on every response (Swagger UI's page gets `DOCS_CSP`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["path"] == "/docs"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if docs:
                    headers["content-security-policy"] = DOCS_CSP
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """413 for a request body over `limit` bytes, counted as it streams (FastAPI has no body
    limit): a too-large Content-Length is refused before reading, a body without one (chunked)
    when the count passes the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is not None and declared > self.limit:
                    response = errors.problem_response(
                        413, "Content too large", f"the body is {declared} bytes; the limit is {self.limit}",
                        instance=scope["path"])
                    return await response(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI re-raises an HTTPException from body reading; errors.py renders it.
                    raise HTTPException(413, f"the body passed the limit of {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


def include_routers(app: FastAPI) -> None:
    """Every router of the service. ---- MOUNT POINT: add routers here. ----"""
    from codealign.service.api.routes import info, tasks

    app.include_router(info.router)
    app.include_router(tasks.router)
    # runs, metrics, keys: this service's; schedule, nights, dashboard: mounted by their owners.
    for module in ("runs", "metrics", "keys", "schedule", "nights", "reviews"):
        _include_if_present(app, f"codealign.service.api.routes.{module}")
    _include_if_present(app, "codealign.service.dashboard")
    _include_if_present(app, "codealign.service.dashboard.reviews")


def _include_if_present(app: FastAPI, module_name: str) -> None:
    import importlib
    import importlib.util

    if importlib.util.find_spec(module_name) is None:
        return
    module = importlib.import_module(module_name)
    app.include_router(module.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app. `settings` default: from the environment (``CODEALIGN_*``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from codealign.service.api.idempotency import clear_abandoned
        from codealign.service.store import Database, upgrade
        from codealign.service.store.keys import any_keys
        from codealign.service.validation import Validator
        from codealign.service.workers import Workers

        settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        if settings.allow_unsafe_no_isolation:
            log.warning("the operator allowed the unsafe-no-isolation sandbox: recipes (and task "
                        "validation, if sandbox_backend says so) may run code on this host unsandboxed")
        upgrade(settings.database_url)
        app.state.db = db = Database(settings.database_url)
        cleared = clear_abandoned(db)
        if cleared:
            log.warning("cleared %d idempotency record(s) of requests that died with a previous process", cleared)
        with db.session() as session:
            app.state.keys.keyed = any_keys(session)
        from codealign.service.intake import NamedSets, fill_content_keys

        filled = fill_content_keys(db)
        if filled:
            log.info("leak control: %d stored task(s) got their content key", filled)
        # The named task sets' keys load in the background (seconds): the first submission waits.
        threading.Thread(target=NamedSets.keys, name="codealign-named-sets", daemon=True).start()
        app.state.validator = Validator(db, settings)
        app.state.workers = Workers(settings, db)
        app.state.validator.start()
        app.state.workers.recover()
        from codealign.service.scheduler import start_service_scheduler

        app.state.scheduler = start_service_scheduler(settings)
        try:
            yield
        finally:
            app.state.scheduler.shutdown()
            app.state.validator.stop()
            app.state.workers.shutdown()
            db.close()

    docs = {} if settings.api_docs else {"docs_url": None, "redoc_url": None}
    app = FastAPI(title="codealign", version=_version(), lifespan=lifespan, **docs,
                  description="Submit coding tasks, drive alignment runs, read their results.")
    app.state.settings = settings
    app.state.keys = KeyCache(settings.key_cache_ttl_s)
    app.state.tails = EventTails()
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(HostCheck, allowed=settings.hosts)
    app.add_middleware(SecurityHeaders)
    include_routers(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            app.openapi_schema = errors.document_problems(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi
    return app


def _version() -> str:
    from codealign import __version__
    return __version__
