"""Cancel inside the sandbox's job queue: queued jobs are dropped, running ones finish."""

from __future__ import annotations

import shutil
import threading

import pytest

from codealign.errors import Canceled
from codealign.sandbox import Job, SandboxConfig, Status, run_many
from codealign.tasks.task import Task

TASK = Task(task_id="one", prompt="one", entry_point="one", tests="assert one() == 1\n", timeout_s=5.0,
            memory_mb=256)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (make system)")
def test_a_cancel_drops_the_queued_jobs_and_lets_the_running_one_finish():
    jobs = [Job(f"s{i}", TASK, "def one():\n    return 1\n") for i in range(6)]
    stop, finished = threading.Event(), []

    def on_result(i, execution):
        finished.append(execution)
        stop.set()                                 # asked while job 0 was running

    with pytest.raises(Canceled, match="5 of 6 jobs not run"):
        run_many(jobs, SandboxConfig(workers=1), on_result=on_result, cancel=stop.is_set)
    assert [e.status for e in finished] == [Status.PASSED]
    # Without a cancel, every job runs.
    assert len(run_many(jobs[:2], SandboxConfig(workers=1), cancel=lambda: False)) == 2
