"""The global run lock: one run at a time per runs directory, and per PostgreSQL database.

A run's own lease (``<run>/lease.lock``) keeps two processes off *one* run; this lock keeps a
machine (or a fleet of service replicas on one database) from starting a *second* run while
one is going: runs are GPU- and CPU-bound and would only slow each other down.

Two layers, both taken non-blocking, both released by the kernel or the server when the
holding process dies (a crashed holder never leaves a stale lock):
  * ``fcntl.flock(LOCK_EX|LOCK_NB)`` on ``<runs_dir>/.run.lock`` (one host);
  * with a PostgreSQL URL, a session advisory lock ``pg_try_advisory_lock(KEY)`` on a
    connection held open for as long as the lock is held (replicas on one database).

API (for the service, `codealign nightly`, anyone starting a run)::

    from codealign.runs.lock import RunLock, RunLockHeld

    lock = RunLock(runs_dir, database_url=None)   # database_url: SQLAlchemy or libpq URL
    try:
        with lock:                 # acquire() ... release(); RunLockHeld if someone holds it
            execute_run(run_path)
    except RunLockHeld as exc:     # message names the holder (pid, host, since)
        ...
    lock.holder()                  # {"pid", "host", "since", "run"} of the holder, or None
    RunLock(runs_dir).is_held()    # probe: acquire + release at once

    # Hand the lock to another program for its whole life (the service's run workers):
    #   python -m codealign.runs.lock --runs-dir D [--database-url U] [--ready-fd N] [--run NAME] \\
    #       -- python -m codealign runs resume RUN_PATH
    # takes both locks, writes "ok\\n" (or "busy <holder>\\n" and exits 3) to fd N, then
    # exec()s the command: the flocked file and the PostgreSQL socket stay open across
    # exec, so the command's process holds the lock until it exits, however it exits.

Exit status of the trampoline: that of the command; 3 when the lock is held (the same code
as `codealign runs resume` on a held lease); 2 for bad arguments.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from codealign.errors import ExitStatus, RunBusy

__all__ = ["RunLock", "RunLockHeld", "LOCK_FILE", "PG_LOCK_KEY"]

LOCK_FILE = ".run.lock"
PG_LOCK_KEY = 0x636F6465616C6E   # "codealn": one key per database


class RunLockHeld(RunBusy):
    """Another process holds the global run lock; the message names it (a RunBusy: exit 3, HTTP 409)."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://u:p@h/db`` -> ``postgresql://u:p@h/db`` (what libpq reads)."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" + sep + rest) if scheme.startswith("postgresql") else url


def _is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgresql", "postgres://"))


class RunLock:
    """The lock for `runs_dir` (and for the PostgreSQL database at `database_url`, if any)."""

    def __init__(self, runs_dir: str | os.PathLike, database_url: str | None = None, *,
                 run: str | None = None) -> None:
        self.path = Path(runs_dir) / LOCK_FILE
        self.database_url = database_url if _is_postgres(database_url) else None
        self.run = run
        self._fd: int | None = None
        self._pg = None

    # -- acquiring -----------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock now or raise RunLockHeld (never waits)."""
        if self._fd is not None:
            raise RuntimeError("this RunLock is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder()
            raise RunLockHeld(f"another run holds the run lock {self.path}{_describe(holder)}",
                              holder) from None
        try:
            if self.database_url:
                self._pg = self._pg_lock()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run": self.run}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    def _pg_lock(self):
        import psycopg

        conn = psycopg.connect(_libpq_url(self.database_url), autocommit=True, connect_timeout=10,
                               application_name="codealign-run-lock")
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (PG_LOCK_KEY,)).fetchone()[0]
        if not got:
            conn.close()
            raise RunLockHeld("another run holds the run lock of this PostgreSQL database "
                              "(a service replica on another host)")
        return conn

    def release(self) -> None:
        if self._pg is not None:
            self._pg.close()          # ends the session: the advisory lock goes with it
            self._pg = None
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)        # closing the last descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # -- reading -------------------------------------------------------------------------

    def holder(self) -> dict | None:
        """Who holds the lock (as its holder wrote it), or None when nobody does."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None

    def is_held(self) -> bool:
        """Whether someone else holds it right now (a probe: take and drop it at once)."""
        try:
            self.acquire()
        except RunLockHeld:
            return True
        self.release()
        return False

    # -- handing over to a program -------------------------------------------------------

    def exec_holding(self, argv: list[str]) -> None:
        """Replace this process by `argv`, which inherits the held lock (never returns)."""
        if self._fd is None:
            raise RuntimeError("acquire() first")
        os.set_inheritable(self._fd, True)
        if self._pg is not None:
            os.set_inheritable(self._pg.pgconn.socket, True)
        os.execvp(argv[0], argv)


def _describe(holder: dict | None) -> str:
    if not holder:
        return ""
    run = f", run {holder['run']}" if holder.get("run") else ""
    return f" (pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}{run})"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m codealign.runs.lock",
                                     description="Take the global run lock, then exec a command holding it.")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--ready-fd", type=int, default=None)
    parser.add_argument("--run", default=None)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    ready = os.fdopen(args.ready_fd, "w") if args.ready_fd is not None else None
    lock = RunLock(args.runs_dir, args.database_url, run=args.run)
    try:
        lock.acquire()
    except (RunLockHeld, OSError) as exc:
        if ready is not None:
            ready.write(f"busy {exc}\n")
            ready.close()
        print(f"error: {exc}", file=sys.stderr)
        return ExitStatus.BUSY
    if ready is not None:
        ready.write("ok\n")
        ready.close()
    lock.exec_holding(args.command)
    return 0   # not reached


if __name__ == "__main__":
    raise SystemExit(main())
