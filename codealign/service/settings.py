"""One `Settings` for the service, read from `CODEALIGN_*` environment variables and CLI
flags, checked at construction (a bad value fails the start, naming the variable).

The operator's settings are the infrastructure: where things live, which sandbox validates
tasks, which hosts the API answers for, and how far an API caller's experiment overrides may
go (the ``max_*`` fields tighten the ceilings of `codealign.service.recipes.Overrides`; they
can never widen them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from codealign.judges.mutants import MAX_MUTANTS
from codealign.judges.strength import WEAK_TESTS_THRESHOLD
from codealign.tasks.similarity import SimilarityConfig

__all__ = ["Settings", "is_loopback", "LOOPBACK_NAMES"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""The Host names an API that only listens on loopback answers for by default."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0 too) is exposed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything the service needs to start. Environment: ``CODEALIGN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CODEALIGN_", extra="ignore", frozen=True)

    home: Path = Field(default=Path.home() / ".codealign",
                       description="Service home: the SQLite database and the runs directory live here.")
    database_url: str | None = Field(default=None, description=(
        "SQLAlchemy URL; default sqlite:///<home>/codealign.db. PostgreSQL: "
        "postgresql+psycopg://user@host/db."))
    runs_dir: Path | None = Field(default=None, description="Run directories (default <home>/runs).")
    configs_dir: Path = Field(default=Path("configs"),
                              description="Named run recipes: POST /v1/runs {config: NAME} reads NAME.yaml here.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(default=None, description=(
        "Host header values the service answers for (comma-separated; `*.example.com` matches "
        "subdomains, `*` any host). Default: the loopback names when `host` is loopback, any "
        "host otherwise (a non-loopback bind needs API keys)."))
    sandbox_backend: str = Field(default="bwrap", description="Sandbox backend for task validation.")
    allow_unsafe_no_isolation: bool = Field(default=False, description=(
        "Let the `unsafe-no-isolation` sandbox run: for task validation (sandbox_backend) and in "
        "recipes. Only the operator sets it (`codealign serve --allow-unsafe-no-isolation`); it "
        "is logged at start. Never selectable through the API."))
    validation_workers: int = Field(default=1, ge=1, le=64, description="Parallel validation sandboxes.")
    validation_queue: int = Field(default=2000, ge=1, description=(
        "Tasks waiting for validation before submissions get 503 + Retry-After."))
    # Task intake (codealign.service.intake): leak control and test strength.
    near_duplicate_threshold: float = Field(default=SimilarityConfig.threshold, gt=0, le=1, description=(
        "A submitted task whose mean part similarity (prompt, tests, reference) to a held-out "
        "task of a run this service knows reaches this is flagged a near duplicate and kept out "
        "of training (codealign.tasks.similarity.SimilarityConfig.threshold; 0.75 is "
        "benchmarks/leak_control.py's calibration on HumanEval and MBPP)."))
    near_duplicate_tree_threshold: float = Field(default=SimilarityConfig.tree_threshold, gt=0, le=1, description=(
        "A submitted task whose tests or reference have at least this normalised-AST similarity "
        "to a held-out task's is a near duplicate whatever its prompt (1.0: the same tree)."))
    weak_tests_threshold: float = Field(default=WEAK_TESTS_THRESHOLD, gt=0, le=1, description=(
        "A task whose own tests kill fewer than this share of its reference's non-equivalent "
        "mutants gets the `weak-tests` warning (codealign.judges.strength.WEAK_TESTS_THRESHOLD: "
        "HumanEval's 5th percentile)."))
    strict_tests: bool = Field(default=False, description=(
        "Reject a task with weak tests instead of accepting it with the `weak-tests` warning."))
    validation_mutants: int = Field(default=MAX_MUTANTS, ge=1, le=MAX_MUTANTS, description=(
        "Mutants of a submitted reference run against its tests at validation (at most "
        "codealign.judges.mutants.MAX_MUTANTS, 40, the count WEAK_TESTS_THRESHOLD was "
        "calibrated with). Fewer make validation little faster (benchmarks/intake_validation.py: "
        "the agreement checks cost most) but judge on fewer edits: with fewer than 20 "
        "non-equivalent mutants a single survivor falls below 0.95."))
    max_body_bytes: int = Field(default=4 << 20, ge=1024, description="Request body limit (413 above).")
    worker_python: str | None = Field(default=None, description="Interpreter of run workers (default: this one).")
    nightly_recipe: str | None = Field(default=None, description=(
        "Recipe name (<configs_dir>/NAME.yaml) of the nightly schedule, used when the database "
        "holds no schedule yet; PUT /v1/schedule sets or changes it later."))
    nightly_cron: str = Field(default="0 2 * * *", description="Default cron (UTC) of the nightly schedule.")
    scheduler: bool = Field(default=True, description=(
        "Run the nightly scheduler in this service (false: when cron/systemd/a CronJob runs "
        "`codealign nightly` instead)."))
    shutdown_grace_s: float = Field(default=20.0, ge=0, description=(
        "On SIGTERM, seconds a worker gets to stop after SIGTERM before SIGKILL."))
    key_cache_ttl_s: float = Field(default=2.0, ge=0, le=60, description=(
        "How long a verified API key is trusted without asking the store again: a key revoked "
        "through the admin API fails at once, one revoked elsewhere (the CLI, another replica) "
        "within this time."))
    api_docs: bool = Field(default=False, description=(
        "Serve Swagger UI at /docs (it loads its scripts from a CDN: jsdelivr). "
        "/openapi.json is always served."))
    review_per_reason: int = Field(default=2, ge=0, le=1000, description=(
        "Pairs of each reason (correctness, efficiency, security, maintainability) drawn from each "
        "decided round into the review queue (0: none)."))
    # Ceilings of the experiment overrides an API caller may send (recipes.Overrides).
    max_rounds: int = Field(default=10, ge=1, le=100, description=(
        "Most rounds a run started, resumed or scheduled through the API may have."))
    max_tasks_per_round: int = Field(default=1000, ge=1, le=100_000, description=(
        "Largest `tasks_per_round` an API caller may ask for."))
    max_samples: int = Field(default=16, ge=1, le=64, description=(
        "Largest `sampling.n` (samples per task per round) an API caller may ask for."))
    max_eval_samples: int = Field(default=32, ge=1, le=200, description=(
        "Largest `evaluation.n_samples` an API caller may ask for."))
    max_dpo_epochs: float = Field(default=10.0, gt=0, le=50, description=(
        "Largest `dpo.epochs` an API caller may ask for."))

    @field_validator("sandbox_backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        from codealign.sandbox.config import BACKENDS
        if value not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {value!r}; choose one of {list(BACKENDS)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value):
        if isinstance(value, str):
            value = [h.strip() for h in value.split(",") if h.strip()]
        if value is not None and not value:
            raise ValueError("give at least one host name (or `*`)")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        from codealign.sandbox.config import UNSAFE_BACKEND

        home = self.home.expanduser().resolve()
        object.__setattr__(self, "home", home)
        if self.database_url is None:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'codealign.db'}")
        if self.runs_dir is None:
            object.__setattr__(self, "runs_dir", home / "runs")
        if self.sandbox_backend == UNSAFE_BACKEND and not self.allow_unsafe_no_isolation:
            raise ValueError(f"sandbox_backend {UNSAFE_BACKEND!r} runs submitted tests on the host "
                             "without isolation; the operator must allow it explicitly "
                             "(codealign serve --allow-unsafe-no-isolation)")
        return self

    def run_cache(self, run: str) -> Path:
        """Where the run reader keeps what it derived from run `run`'s records (`RunReader`'s
        `cache_dir`): under the home, never in the run directory, safe to delete."""
        return self.home / "cache" / "runs" / run

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def hosts(self) -> tuple[str, ...]:
        """The Host names answered for (`allowed_hosts`, or its default; see there)."""
        if self.allowed_hosts is not None:
            return tuple(h.lower() for h in self.allowed_hosts)
        return LOOPBACK_NAMES if is_loopback(self.host) else ("*",)

    def similarity(self) -> SimilarityConfig:
        """Leak control's comparison (`near_duplicate_*` thresholds)."""
        return SimilarityConfig(threshold=self.near_duplicate_threshold,
                                tree_threshold=self.near_duplicate_tree_threshold)
