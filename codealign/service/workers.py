"""Run workers: each run executes in its own process, started and supervised here.

The service never runs a loop inside its event loop. Starting (or resuming) a run spawns

    python -m codealign.runs.lock --runs-dir D [--database-url U] --ready-fd N --run NAME \\
        -- python -m codealign runs resume RUN_PATH

in a new session (its own process group): the trampoline takes the global run lock
(`codealign.runs.lock`), reports on the ready pipe, and exec()s the run engine's resume
command, which then holds the lock until it exits. So

  * a second start while a run holds the lock is refused at once (409), on this host and,
    with PostgreSQL, on every replica of the database;
  * a worker that crashes (or is killed) releases the lock with its process, and its run reads
    `interrupted` (the run engine's lease is gone too) and can be resumed;
  * a worker dies with the service: it is started with ``PR_SET_PDEATHSIG=SIGKILL`` (kept
    across the trampoline's exec), so a service killed with ``kill -9`` leaves no worker
    holding the run lock unsupervised; its run reads `interrupted`, and the restarted service
    re-reads every run into its index (`recover`). The death signal follows the *thread* that
    forked, so every worker is forked by one thread that lives as long as `Workers`;
  * on SIGTERM the service sends SIGTERM to every worker's process group, waits
    `shutdown_grace_s`, then SIGKILLs what is left: runs stay resumable (every stage of the
    loop is checkpointed).

Worker output goes to ``<home>/logs/<run>.log`` (mode 0600, in a 0700 directory).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from codealign.runs.lock import RunLock, RunLockHeld
from codealign.service.settings import Settings
from codealign.service.store.db import Database

__all__ = ["Workers", "Worker", "die_with"]

log = logging.getLogger("codealign.service.workers")
READY_TIMEOUT_S = 60.0


@dataclass
class Worker:
    run: str
    run_path: Path
    process: subprocess.Popen
    started: float


class Workers:
    """The live run workers of this service process."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self._workers: dict[str, Worker] = {}
        self._guard = threading.Lock()      # one start at a time in this process
        self._closing = False
        # The one thread that forks workers (PR_SET_PDEATHSIG fires when the forking thread ends).
        self._forker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-worker-fork")

    def lock(self) -> RunLock:
        return RunLock(self.settings.runs_dir, self.settings.database_url)

    def active(self) -> dict[str, Worker]:
        with self._guard:
            return dict(self._workers)

    def start(self, name: str, run_path: Path, rounds: int | None = None) -> Worker:
        """Spawn the worker for `run_path`; raise RunLockHeld (-> 409) if another run holds the
        lock. The pairs reviewers excluded go into the run first (`codealign.runs.exclusions`)."""
        from codealign.runs.exclusions import write_exclusions
        from codealign.service.reviews import SOURCE, excluded_pair_ids

        with self.db.session() as session:
            write_exclusions(run_path, excluded_pair_ids(session), SOURCE)
        python = self.settings.worker_python or sys.executable
        command = [python, "-m", "codealign", "runs", "resume", str(run_path)]
        if rounds is not None:
            command += ["--rounds", str(rounds)]
        logs = self.settings.home / "logs"
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._guard:
            if self._closing:
                raise RunLockHeld("the service is shutting down")
            read_end, write_end = os.pipe()
            trampoline = [python, "-m", "codealign.runs.lock", "--runs-dir", str(self.settings.runs_dir),
                          "--ready-fd", str(write_end), "--run", name]
            if not self.settings.is_sqlite:
                trampoline += ["--database-url", str(self.settings.database_url)]
            parent = os.getpid()
            with open(os.open(logs / f"{name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as out:
                try:
                    process = self._forker.submit(
                        subprocess.Popen, trampoline + ["--"] + command, stdin=subprocess.DEVNULL,
                        stdout=out, stderr=subprocess.STDOUT, pass_fds=(write_end,),
                        start_new_session=True, preexec_fn=lambda: die_with(parent)).result()
                finally:
                    os.close(write_end)
            with os.fdopen(read_end) as ready:
                answer = _read_line(ready, READY_TIMEOUT_S)
            if answer != "ok":
                process.wait(timeout=30) if answer.startswith("busy") else _kill_group(process)
                raise RunLockHeld(answer.removeprefix("busy ").strip()
                                  or f"the run worker did not start (exit {process.returncode})")
            worker = Worker(name, run_path, process, time.time())
            self._workers[name] = worker
        threading.Thread(target=self._supervise, args=(worker,), name=f"run-worker-{name}",
                         daemon=True).start()
        _await_lease(worker)
        return worker

    def _supervise(self, worker: Worker) -> None:
        code = worker.process.wait()
        log.info("run worker %s exited with %s", worker.run, code)
        with self._guard:
            self._workers.pop(worker.run, None)
        from codealign.service.runindex import refresh_run
        try:
            refresh_run(self.db, worker.run, worker.run_path, cache_dir=self.settings.run_cache(worker.run),
                        review_per_reason=self.settings.review_per_reason)
        except Exception:  # noqa: BLE001 - the index is a cache; the run directory is the truth
            log.exception("could not refresh the index of run %s", worker.run)

    def recover(self) -> None:
        """On start: re-read every run into the index (the run of a worker that died with the
        previous service reads `interrupted`, resumable)."""
        from codealign.service.runindex import refresh_all
        try:
            refresh_all(self.db, self.settings.runs_dir, self.settings.review_per_reason)
        except Exception:  # noqa: BLE001 - see _supervise
            log.exception("could not refresh the run index")

    def shutdown(self) -> None:
        """SIGTERM every worker's group, wait the grace period, SIGKILL the rest."""
        with self._guard:
            self._closing = True
            workers = list(self._workers.values())
        for w in workers:
            _signal_group(w.process, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        for w in workers:
            try:
                w.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(w.process)
        self._forker.shutdown(wait=False)


_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl     # looked up before any fork


def die_with(parent: int) -> None:
    """In the forked worker, before exec: SIGKILL when the service dies (and at once if it
    already has: the death signal is not sent for a parent that died before it was set)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _await_lease(worker: Worker) -> None:
    """Return once the worker holds the run's lease (the run reads `running` under its pid) or
    has exited, so that a client reading the run right after a start never sees the old state."""
    from codealign.runs import read_state

    deadline = time.monotonic() + READY_TIMEOUT_S
    while worker.process.poll() is None and time.monotonic() < deadline:
        holder = read_state(worker.run_path).holder or {}
        if holder.get("pid") == worker.process.pid:
            return
        time.sleep(0.05)


def _read_line(stream, timeout: float) -> str:
    import select

    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline().strip() if ready else ""


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _kill_group(process: subprocess.Popen) -> None:
    _signal_group(process, signal.SIGKILL)
    process.wait()
