"""The global run lock: one holder per runs directory (flock) and per PostgreSQL database
(advisory lock); it dies with its holder; the exec trampoline hands it to a program."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from codealign.errors import RunBusy
from codealign.errors import ExitStatus
from codealign.runs.lock import RunLock, RunLockHeld
from tests.service.conftest import ROOT, new_pg_database

HOLD = "import sys, time; sys.stdout.write('held\\n'); sys.stdout.flush(); time.sleep(600)"


def trampoline(runs_dir, *extra, command=(sys.executable, "-c", HOLD)) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "codealign.runs.lock", "--runs-dir", str(runs_dir), *extra,
                             "--run", "r1", "--", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_second_holder_is_refused_and_names_the_first(tmp_path):
    with RunLock(tmp_path, run="first"):
        with pytest.raises(RunLockHeld) as info:
            RunLock(tmp_path).acquire()
        assert isinstance(info.value, RunBusy)
        assert f"pid {os.getpid()}" in str(info.value) and "run first" in str(info.value)
        assert RunLock(tmp_path).is_held()
    assert not RunLock(tmp_path).is_held()
    with RunLock(tmp_path):          # free again after release
        pass


def test_the_lock_dies_with_its_holder_and_survives_exec(tmp_path):
    holder = trampoline(tmp_path)
    try:
        assert holder.stdout.readline() == "held\n"          # the exec'd program runs ...
        assert RunLock(tmp_path).is_held()                   # ... and holds the lock
        second = trampoline(tmp_path)
        assert second.wait(60) == ExitStatus.BUSY
        assert "another run holds the run lock" in second.stderr.read()
    finally:
        holder.kill()
        holder.wait()
    assert not RunLock(tmp_path).is_held()                   # SIGKILL released it


def test_postgres_advisory_lock_spans_runs_directories(tmp_path, postgres_server):
    url = new_pg_database(postgres_server)
    with RunLock(tmp_path / "a", url):
        with pytest.raises(RunLockHeld, match="PostgreSQL"):
            RunLock(tmp_path / "b", url).acquire()      # another host's runs dir, same database
        assert not (tmp_path / "b" / ".run.lock").read_text()   # its flock was given back
    with RunLock(tmp_path / "b", url):
        pass


def test_postgres_lock_is_held_by_the_exec_program_and_freed_when_it_dies(tmp_path, postgres_server):
    url = new_pg_database(postgres_server)
    holder = trampoline(tmp_path / "a", "--database-url", url)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RunLockHeld, match="PostgreSQL"):
            RunLock(tmp_path / "b", url).acquire()
    finally:
        holder.kill()
        holder.wait()
    import time
    deadline = time.monotonic() + 30          # the server notices the closed socket at once
    while True:
        try:
            with RunLock(tmp_path / "b", url):
                break
        except RunLockHeld:
            assert time.monotonic() < deadline
            time.sleep(0.2)
