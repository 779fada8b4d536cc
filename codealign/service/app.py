"""`create_app(settings)`: the FastAPI app, its lifespan and its middleware.

On start: upgrade the schema (Alembic), open the store, start the task validator and the
run-worker supervisor and the nightly scheduler (one worker process of the service runs its
jobs, see `codealign.service.scheduler`). On shutdown (SIGTERM under uvicorn): stop validating, stop the
workers (each run is left resumable), close the store.

Other parts of the service mount their routers in `include_routers` (marked below).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codealign.service.api import errors
from codealign.service.api.deps import KeyCache
from codealign.service.settings import Settings

__all__ = ["create_app", "BodyLimit"]

log = logging.getLogger("codealign.service")


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
    # runs, metrics: this service's; schedule, nights, dashboard: mounted by their owners.
    for module in ("runs", "metrics", "schedule", "nights"):
        _include_if_present(app, f"codealign.service.api.routes.{module}")
    _include_if_present(app, "codealign.service.dashboard")


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
        from codealign.service.store import Database, upgrade
        from codealign.service.validation import Validator
        from codealign.service.workers import Workers

        settings.home.mkdir(parents=True, exist_ok=True)
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        app.state.db = db = Database(settings.database_url)
        app.state.validator = Validator(db, settings.sandbox_backend, settings.validation_workers)
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

    app = FastAPI(title="codealign", version=_version(), lifespan=lifespan,
                  description="Submit coding tasks, drive alignment runs, read their results.")
    app.state.settings = settings
    app.state.keys = KeyCache()
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
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
