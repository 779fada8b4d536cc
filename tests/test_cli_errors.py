"""Every command ends a failure with one line on stderr and a non-zero status, never a bare
traceback: our own errors exit 2, anything unexpected exits 70 and leaves its traceback in a
log file that the line names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codealign.errors import ExitStatus

SAMPLE = {"task_id": "bank/dedupe_keep_order",
          "completion": "    return list(dict.fromkeys(items))\n"}


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("CODEALIGN_HOME", "TMPDIR")}
    environ.update(PYTHONPATH=os.pathsep.join(sys.path), **env)
    return subprocess.run([sys.executable, "-m", "codealign", *args], capture_output=True,
                          text=True, timeout=300, env=environ)


@pytest.mark.parametrize("where", ["codealign-home", "temp-dir", "unwritable-home"])
def test_unexpected_error_is_one_line_naming_a_log_with_the_traceback(tmp_path, where):
    """A real failure outside our error tree: --out lies under a regular file, so writing
    the executions raises FileExistsError after the sandbox ran."""
    samples, blocker = tmp_path / "samples.jsonl", tmp_path / "a-file"
    samples.write_text(json.dumps(SAMPLE) + "\n")
    blocker.write_text("not a directory\n")
    env = {"codealign-home": {"CODEALIGN_HOME": str(tmp_path / "home")},
           "temp-dir": {"TMPDIR": str(tmp_path / "tmp")},
           "unwritable-home": {"CODEALIGN_HOME": str(blocker)}}[where]
    (tmp_path / "tmp").mkdir()
    done = cli("exec", "bank", str(samples), "--out", str(blocker / "executions.jsonl"),
               "--workers", "1", **env)
    if done.returncode == 2 and "bwrap" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == ExitStatus.INTERNAL
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    line = lines[-1]
    assert line.startswith("error: codealign exec failed unexpectedly: FileExistsError: ")
    assert str(blocker) in line
    if where == "unwritable-home":
        assert "(traceback: no log written: " in line
        return
    log = Path(line.split("(traceback: ")[1].rstrip(")"))
    expected_dir = (tmp_path / "home" / "logs" if where == "codealign-home"
                    else tmp_path / "tmp" / f"codealign-logs-{os.getuid()}")
    assert log.parent == expected_dir and log.is_file()
    text = log.read_text()
    assert "codealign exec bank" in text.splitlines()[0]
    assert "Traceback (most recent call last)" in text and "FileExistsError" in text


def test_our_own_errors_keep_status_2_and_escape_hostile_text(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({**SAMPLE, "task_id": "\ud800\x00"}) + "\n")
    done = cli("exec", "bank", str(samples), "--out", str(tmp_path / "e.jsonl"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {samples}:1: field task_id: unknown task '\\ud800\\x00' (not in the task file)"]
