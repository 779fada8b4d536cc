"""One `Settings` for the service, read from `CODEALIGN_*` environment variables and CLI
flags, checked at construction (a bad value fails the start, naming the variable)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0 too) is exposed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
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
    sandbox_backend: str = Field(default="bwrap", description="Sandbox backend for task validation.")
    validation_workers: int = Field(default=1, ge=1, le=64, description="Parallel validation sandboxes.")
    validation_queue: int = Field(default=2000, ge=1, description=(
        "Tasks waiting for validation before submissions get 503 + Retry-After."))
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
            raise ValueError(f"must be a sqlite:// or postgresql+psycopg:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        home = self.home.expanduser().resolve()
        object.__setattr__(self, "home", home)
        if self.database_url is None:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'codealign.db'}")
        if self.runs_dir is None:
            object.__setattr__(self, "runs_dir", home / "runs")
        return self

    def run_cache(self, run: str) -> Path:
        """Where the run reader keeps what it derived from run `run`'s records (`RunReader`'s
        `cache_dir`): under the home, never in the run directory, safe to delete."""
        return self.home / "cache" / "runs" / run

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")
