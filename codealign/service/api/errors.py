"""The one place errors become HTTP: RFC 9457 ``application/problem+json`` for every error.

    ServiceError subclasses   -> their own status (404, 409, 422, 503 + Retry-After, 401, 403)
    RunBusy, RunLockHeld      -> 409 (a run's lease, the global run lock)
    InputError / ConfigError  -> 422, naming the field
    RequestValidationError    -> 422, each error's field path (``body.tasks.0.prompt``)
    HTTPException             -> its status (404 for unknown paths, 405, 413 from the body limit)
    anything else             -> 500 with no detail of the fault (it is logged, never sent)

No message names a server path: the service's directories read ``<home>``, ``<runs>``,
``<configs>``, and an input error's file is named by its base name only (`public_text`).
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from codealign.errors import CodealignError, InputError, RunBusy
from codealign.service.errors import Duplicate, Overloaded, ServiceError, Unauthorized

__all__ = ["Problem", "FieldError", "install", "problem_response", "public_text", "PROBLEM_RESPONSES"]

log = logging.getLogger("codealign.service")
PROBLEM = "application/problem+json"


class FieldError(BaseModel):
    loc: str
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    duplicate_of: str | None = Field(None, description=(
        "409 for a submitted task that exactly duplicates a known one: that task's id."))


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc}
    for code, desc in ((400, "The body cannot be read"), (401, "No or unknown API key"), (403, "The key's scope is too small"),
                       (404, "No such resource"), (409, "Conflict (an id taken, an exact duplicate "
                                                         "of a known task, a run lock held, a request "
                                                         "in progress)"),
                       (413, "Body over the limit"), (422, "Invalid input (field path named)"),
                       (503, "Overloaded; retry after Retry-After seconds"))
}
_COMMON = (401, 403, 422)


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers send: every error response is
    ``application/problem+json`` with the Problem schema, and every operation lists the
    errors any request can get (401/403/422; 404 with path parameters; 413 with a body)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    for schemas_key in ("HTTPValidationError", "ValidationError"):
        schemas.pop(schemas_key, None)
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            codes = list(_COMMON) + ([404] if "{" in path else []) + (
                [400, 413] if "requestBody" in operation or method in ("post", "put", "patch") else [])
            if path == "/healthz":
                codes = []
            for code in codes:
                responses.setdefault(str(code), {"description": PROBLEM_RESPONSES[code]["description"]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM: {"schema": ref}}
    return openapi


def problem_response(status: int, title: str, detail: str | None = None, *, instance: str | None = None,
                     errors: list[dict[str, str]] | None = None,
                     headers: dict[str, str] | None = None, **extra: str) -> JSONResponse:
    """A problem+json response; `extra`: the `Problem` fields beyond RFC 9457's (``duplicate_of``)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


_PART = r"[^\s'\"`:,;()\[\]{}<>/]+"
# An absolute path of two parts or more, where a path begins (not inside a word, a URL or a
# path already made symbolic); the API's own paths (/v1/...) are not server paths.
_ABSOLUTE = re.compile(rf"(?<![\w<>.~/-])/(?!v1/){_PART}(?:/{_PART})+/?")


def public_text(text: str, settings) -> str:
    """`text` with the service's own directories named symbolically (longest first) and any
    other absolute path cut to ``<path>/`` and its last part: what a client may read of a
    server-side message (problem details, a run's error).

    >>> public_text("FileNotFoundError: '/srv/models/tiny/config.json' (see /v1/runs/a)", None)
    "FileNotFoundError: '<path>/config.json' (see /v1/runs/a)"
    """
    import codealign

    roots = {str(Path(codealign.__file__).resolve().parent): "<codealign>", sys.prefix: "<python>"}
    if settings is not None:
        configs = Path(settings.configs_dir)
        roots |= {str(settings.home): "<home>", str(settings.runs_dir): "<runs>",
                  str(configs): "<configs>", str(configs.resolve()): "<configs>"}
    for root in sorted(roots, key=len, reverse=True):
        if root not in ("", "/", "."):
            text = text.replace(root, roots[root])
    return _ABSOLUTE.sub(lambda m: "<path>/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def _input_text(exc: InputError) -> str:
    """An input error as the client reads it: a file by its base name, never its path."""
    where = ""
    if exc.path is not None:
        name = Path(exc.path).name if Path(exc.path).is_absolute() else exc.path
        where = f"{name}:{exc.line}: " if exc.line is not None else f"{name}: "
    elif exc.line is not None:
        where = f"line {exc.line}: "
    if exc.field is not None:
        where += f"field {exc.field}: "
    return where + exc.reason


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    def public(request: Request, text: str) -> str:
        return public_text(text, getattr(request.app.state, "settings", None))

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError):
        headers = {}
        if isinstance(exc, Overloaded):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        extra = {"duplicate_of": exc.duplicate_of} if isinstance(exc, Duplicate) else {}
        return problem_response(exc.status, exc.title, public(request, str(exc)), instance=request.url.path,
                                headers=headers or None, **extra)

    @app.exception_handler(CodealignError)
    async def _domain(request: Request, exc: CodealignError):
        if isinstance(exc, RunBusy):
            return problem_response(409, "Run lock held", public(request, str(exc)), instance=request.url.path)
        if isinstance(exc, InputError):
            reason = public(request, exc.reason)
            errors = [{"loc": exc.field, "msg": reason}] if exc.field else None
            return problem_response(422, "Invalid input", public(request, _input_text(exc)),
                                    instance=request.url.path, errors=errors)
        log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, exc)
        return problem_response(500, "Internal error", type(exc).__name__, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        return problem_response(422, "Invalid input", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return problem_response(exc.status_code, _TITLES.get(exc.status_code, "Error"),
                                public(request, str(exc.detail)) if exc.detail else None,
                                instance=request.url.path, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return problem_response(500, "Internal error", None, instance=request.url.path)


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Content too large",
           415: "Unsupported media type", 422: "Invalid input", 503: "Service unavailable"}
