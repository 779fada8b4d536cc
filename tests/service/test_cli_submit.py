"""`codealign tasks submit FILE --server URL`: through the API, summary, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.service.conftest import ROOT, add_task


def test_tasks_submit_reports_each_outcome(live, tmp_path):
    rows = [{k: add_task(i)[k] for k in ("task_id", "prompt", "entry_point", "tests", "reference", "tags")}
            for i in range(3)]
    rows.append({"task_id": "trivial", "prompt": "p", "entry_point": "f", "tests": "x = f()\n",
                 "reference": "def f():\n    return 1\n"})
    rows.append({"task_id": "weak", "prompt": "Add.", "entry_point": "plus", "tests": "assert isinstance(plus(1, 2), int)\n",
                 "reference": "def plus(a, b):\n    return a + b + 4\n"})
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "codealign", "tasks", "submit", str(path), "--server", live.url]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 1, first.stderr            # one task was rejected
    assert "5 tasks: 5 new, 0 already stored, 0 refused; 4 active, 1 rejected" in first.stderr
    assert "1 warning(s) on accepted tasks" in first.stderr
    assert "trivial: rejected: the tests accept a trivial wrong answer" in first.stderr
    assert "weak: warning: weak-tests: the tests kill" in first.stderr     # accepted, with the warning
    again = subprocess.run(cmd[:-2] + ["--server", live.url, "--no-wait"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 0 and "0 new, 5 already stored" in again.stderr
