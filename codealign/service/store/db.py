"""The engine, one session per unit of work, and schema upgrades (Alembic, on start).

SQLite (the default, a file in the service home) runs in WAL mode with a busy timeout, so
readers never wait for the writer and concurrent writers queue instead of failing. The file
is created mode 0600 (SQLite gives its -wal and -shm files the database file's mode), in a
directory created 0700: it holds the key hashes, the tasks and the schedule.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "upgrade", "make_engine", "MIGRATIONS"]

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger("codealign.service.store")


def _sqlite_dir(url: str) -> None:
    """Make the directory (0700) and the file (0600) of a SQLite database (the service home on
    a fresh machine); an existing file others may read is logged."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("the database %s can be read by other users (mode %o); chmod 600 it",
                        path.name, path.stat().st_mode & 0o777)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` to `revision` (the service does this on every start)."""
    from alembic import command

    _sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one unit of work outside a request (workers, CLI)."""
        with self.sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
