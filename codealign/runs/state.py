"""A run's state record, its exclusive lease, and cooperative cancel.

Files in the run directory (written here only):

    state.json      the `RunState`, rewritten atomically (temporary file + rename)
    lease.lock      ``fcntl.flock``ed (LOCK_EX | LOCK_NB) by whoever works on the run, for the
                    whole run; it also holds the holder's ``{"pid", "host"}`` for messages
    cancel.request  created by anyone to ask the holder to stop

Who may write what: only the lease holder writes ``state.json`` (and every other file of the
run); `create_run` writes the first ``queued`` state while holding the lease too. A reader
never takes the lease for more than a probe: `read_state` tells a live ``running`` run from
a dead one by trying a *shared* lock — the holder's exclusive lock makes that fail; when it
succeeds, nobody holds the lease and the run reads ``interrupted``. A starting holder that
meets such a probe retries for a moment (`LEASE_RETRY_S`) before it calls the run busy.

The heartbeat (``heartbeat`` in the state, refreshed every `HEARTBEAT_S` by a thread) is for
people and for hosts that do not share the lock; the lock decides liveness here.

Cancel is cooperative: `CancelToken.requested()` is true once its `threading.Event` is set
or ``cancel.request`` exists; the engine checks it between stages, between generation
batches, between training steps and before each sandbox job, and raises `Canceled`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from codealign.errors import Canceled, ExitStatus, InputError, RunBusy
from codealign.jsonl import write_json

__all__ = ["RunStatus", "RunState", "RunLease", "CancelToken", "read_state", "write_state",
           "STATE_FILE", "LEASE_FILE", "CANCEL_FILE", "now_iso"]

STATE_FILE = "state.json"
LEASE_FILE = "lease.lock"
CANCEL_FILE = "cancel.request"
HEARTBEAT_S = 5.0
LEASE_RETRY_S = 0.3     # a probing reader holds a shared lock for microseconds; wait that out


class RunStatus(str, Enum):
    """Where a run is. Terminal states stay until someone resumes the run."""

    QUEUED = "queued"
    RUNNING = "running"
    INTERRUPTED = "interrupted"     # read for `running` with nobody holding the lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        """Finished one way or another (interrupted is not: its holder died mid-run)."""
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED)

    @property
    def exit_status(self) -> ExitStatus:
        """How a command that ran the run to this state ends (`loop`, `runs resume`)."""
        return {RunStatus.SUCCEEDED: ExitStatus.OK, RunStatus.CANCELED: ExitStatus.CANCELED}.get(
            self, ExitStatus.FAILED)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunState:
    """The content of ``state.json``. `path` (the run directory) is not stored in the file."""

    status: RunStatus = RunStatus.QUEUED
    round: int | None = None
    stage: str | None = None
    holder: dict[str, Any] | None = None        # {"pid": int, "host": str} while running
    heartbeat: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    parent_run: str | None = None
    resumed: int = 0                            # how many times work restarted after the first start
    path: Path | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)

    @property
    def name(self) -> str | None:
        return None if self.path is None else self.path.name

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "path"}
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> "RunState":
        names = {f.name for f in dataclasses.fields(cls) if f.name != "path"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"unknown field(s) {unknown}", field=unknown[0])
        try:
            return cls(**d, path=path)
        except ValueError as exc:
            raise InputError(str(exc), field="status") from None


def write_state(run_path: Path, state: RunState) -> None:
    write_json(Path(run_path) / STATE_FILE, state.to_dict())


def _read_state_file(run_path: Path) -> RunState:
    path = Path(run_path) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a run directory (no state.json)", path=str(path.parent)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    try:
        return RunState.from_dict(data, path=Path(run_path))
    except InputError as exc:
        raise InputError(exc.reason, path=str(path), field=exc.field) from None


def lease_held(run_path: Path) -> bool:
    """Whether some process holds the run's lease (a shared-lock probe, released at once)."""
    path = Path(run_path) / LEASE_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_state(run_path: str | Path) -> RunState:
    """The run's state; ``running`` with nobody holding the lease reads ``interrupted``."""
    run_path = Path(run_path)
    state = _read_state_file(run_path)
    if state.status is RunStatus.RUNNING and not lease_held(run_path):
        state.status = RunStatus.INTERRUPTED
    return state


class RunLease:
    """The exclusive lease on one run: `acquire` or raise `RunBusy`; state updates while held.

    Use as a context manager. While held, a heartbeat thread refreshes ``heartbeat`` in the
    state every `HEARTBEAT_S`; `update` writes other fields (under one lock, so the thread
    and the engine never interleave two writes).
    """

    def __init__(self, run_path: str | Path) -> None:
        self.run_path = Path(run_path)
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: RunState | None = None
        self.acquired_at = 0.0

    def acquire(self, heartbeat: bool = True) -> "RunLease":
        self.run_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_path / LEASE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LEASE_RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                holder = _holder_text(fd)
                os.close(fd)
                raise RunBusy(f"{self.run_path} is being worked on by {holder}; "
                              "wait for it, or cancel it with `codealign runs cancel`") from None
        self._fd = fd
        self.acquired_at = time.time()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info()).encode(), 0)
        if (self.run_path / STATE_FILE).exists():
            self.state = _read_state_file(self.run_path)
        if heartbeat:
            self._thread = threading.Thread(target=self._beat, name="codealign-heartbeat", daemon=True)
            self._thread.start()
        return self

    def update(self, **fields: Any) -> RunState:
        """Change fields of the state (starting from a fresh `RunState` when there is none)."""
        with self._lock:
            state = self.state or RunState(path=self.run_path)
            self.state = dataclasses.replace(state, **fields)
            write_state(self.run_path, self.state)
            return self.state

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                if self.state is not None and self.state.status is RunStatus.RUNNING:
                    self.state = dataclasses.replace(self.state, heartbeat=now_iso())
                    write_state(self.run_path, self.state)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)           # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "RunLease":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _holder_text(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


class CancelToken:
    """A cancel request for one run: an in-process `threading.Event` or the request file."""

    def __init__(self, run_path: str | Path, event: threading.Event | None = None) -> None:
        self.path = Path(run_path) / CANCEL_FILE
        self.event = event or threading.Event()

    def requested(self) -> bool:
        if not self.event.is_set() and self.path.exists():
            self.event.set()
        return self.event.is_set()

    __call__ = requested

    def check(self) -> None:
        """Raise `Canceled` when a cancel was requested."""
        if self.requested():
            raise Canceled("canceled on request")

    def clear_stale(self, before: float) -> None:
        """Remove a request file older than `before` (a leftover from an earlier holder)."""
        try:
            if self.path.stat().st_mtime < before:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def consume(self) -> None:
        self.path.unlink(missing_ok=True)
