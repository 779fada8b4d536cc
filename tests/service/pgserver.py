"""A throwaway PostgreSQL server (Debian's `postgresql` binaries, initdb + pg_ctl in a temporary
directory, trust auth on 127.0.0.1), for the service's tests and benchmarks/api_load.py."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "postgres_available", "new_pg_database"]

_names = itertools.count()


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def postgres_available() -> bool:
    return bool(_pg_bin("initdb") and _pg_bin("pg_ctl"))


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` -> ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""

    def __enter__(self) -> "PostgresServer":
        self.base = Path(tempfile.mkdtemp(prefix="codealign-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.data, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "-E", "UTF8"]), check=True, capture_output=True)
        options = (f"-p {port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=300")
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                                     "-l", str(self.base / "log"), "-w", "start"]), check=True, capture_output=True)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def new_pg_database(server_url: str) -> str:
    """CREATE DATABASE with a fresh name on the server; returns its SQLAlchemy URL."""
    import psycopg

    name = f"t{os.getpid()}_{next(_names)}"
    with psycopg.connect(server_url.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"
