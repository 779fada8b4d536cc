"""Crash-safe bookkeeping (issue 18, item 5) against a real `kill -9` of `codealign serve`, on
SQLite and PostgreSQL: the run worker dies with the service (no orphan keeps the run lock),
the run reads `interrupted` and the restarted service's index says so; an Idempotency-Key
whose request was in flight at the kill works after the restart (not 409 forever).

The run's generator is an OpenAI-compatible "server" that accepts connections and never
answers, so the worker stays in its first request until it is killed: no model is loaded.
Over 10 s: three service processes and two run workers start (each a Python process).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from codealign.runs import RunStatus, read_state
from codealign.runs.lock import RunLock
from codealign.service.store import Database
from codealign.service.store.models import IdempotencyRecord, RunRow
from tests.service.conftest import ServeProcess, write_operator_recipes

DEADLINE_S = 180        # a failure guard, not a measurement


def wait_for(predicate, what: str, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return value


def alive(pid: int) -> bool:
    """Whether any thread of `pid` is still there and not a zombie. A killed thread group's
    leader reads Z while its other threads are still exiting, and until the last of them has,
    the process's files (the run's lease, the database connection behind the run lock) are
    still open."""
    try:
        os.kill(pid, 0)
        threads = os.listdir(f"/proc/{pid}/task")
    except (ProcessLookupError, FileNotFoundError):
        return False
    for tid in threads:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:        # that thread is gone
            continue
        if stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
            return True
    return False


@pytest.fixture
def silent_server():
    """A listener that accepts every connection and never answers; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def Serve(home: Path, configs: Path, database_url: str) -> ServeProcess:
    return ServeProcess(home, {"CODEALIGN_CONFIGS_DIR": str(configs), "CODEALIGN_DATABASE_URL": database_url,
                               "CODEALIGN_SCHEDULER": "false"}, deadline_s=DEADLINE_S)


def test_kill_9_leaves_no_worker_and_no_stuck_idempotency_key(tmp_path, database_url, silent_server):
    configs = write_operator_recipes(tmp_path / "configs", tmp_path, base_url=silent_server)
    home = tmp_path / "home"
    run = home / "runs" / "r1"
    db = Database(database_url)
    servers: list[ServeProcess] = []
    try:
        first = Serve(home, configs, database_url)
        servers.append(first)
        started = first.post("/v1/runs", {"config": "tiny", "name": "r1"})
        assert started.status_code == 202, started.text
        worker = started.json()["holder"]["pid"]
        assert alive(worker) and read_state(run).status is RunStatus.RUNNING
        first.stop(signal.SIGKILL)
        wait_for(lambda: not alive(worker), "the worker to die with the service", timeout=30)
        # its run reads interrupted and the lock is free at once, or within the moment the
        # database takes to see the worker's connection close
        assert read_state(run).status is RunStatus.INTERRUPTED
        wait_for(lambda: not RunLock(home / "runs", database_url).is_held(), "the lock to be free",
                 timeout=10)

        second = Serve(home, configs, database_url)
        servers.append(second)
        assert second.get("/v1/runs/r1").json()["status"] == "interrupted"
        with db.session() as s:
            assert s.get(RunRow, "r1").status == "interrupted"          # the index, reconciled on start
        # A resume in flight (waiting for its worker) when the service is killed.
        answers: list = []
        thread = threading.Thread(target=lambda: answers.append(_quietly(
            second.post, "/v1/runs/r1/resume", {}, headers={"Idempotency-Key": "resume-1"})))
        thread.start()

        def in_flight():
            with db.session() as s:
                return s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "resume-1"))
        assert wait_for(in_flight, "the request to be in flight").state == "in_progress"
        second.stop(signal.SIGKILL)
        thread.join(60)
        assert answers and isinstance(answers[0], httpx.TransportError)
        wait_for(lambda: not RunLock(home / "runs", database_url).is_held(), "the lock to be free", timeout=30)

        third = Serve(home, configs, database_url)
        servers.append(third)
        retried = third.post("/v1/runs/r1/resume", {}, headers={"Idempotency-Key": "resume-1"})
        assert retried.status_code == 202, retried.text
        replayed = third.post("/v1/runs/r1/resume", {}, headers={"Idempotency-Key": "resume-1"})
        assert replayed.status_code == 202 and replayed.headers["idempotent-replayed"] == "true"
        worker = retried.json()["holder"]["pid"]
        assert alive(worker)
        third.stop(signal.SIGKILL)                # the worker (stuck in its request) dies with it
        wait_for(lambda: not alive(worker), "the second worker to die with the service", timeout=30)
        assert read_state(run).status is RunStatus.INTERRUPTED
    finally:
        for server in servers:
            server.stop(signal.SIGKILL)
        db.close()


def _quietly(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except httpx.TransportError as exc:
        return exc
