"""Profiling: only passing samples are measured, and the count is deterministic."""

from __future__ import annotations

from codealign.sandbox import Job, SandboxConfig, Status, run_many
from codealign.tasks.task import Task

TASK = Task(task_id="p/total", prompt="def total(xs):\n", entry_point="total",
            tests="assert total([1, 2, 3]) == 6\nassert total([]) == 0\n",
            perf_inputs=("(list(range(2000)),)",), timeout_s=5.0, memory_mb=256)
LOOP = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
BUILTIN = "def total(xs):\n    return sum(xs)\n"
WRONG = "def total(xs):\n    for x in xs:\n        pass\n    return -1\n"


def test_passing_samples_get_figures_and_failing_ones_none():
    loop, builtin, wrong = run_many([Job("loop", TASK, LOOP, profile=True, repeats=3),
                                     Job("builtin", TASK, BUILTIN, profile=True, repeats=3),
                                     Job("wrong", TASK, WRONG, profile=True, repeats=3)], SandboxConfig())
    assert loop.status is builtin.status is Status.PASSED and wrong.status is Status.FAILED
    # 1 line (s = 0) + 2 per element (for, s += x) + the for's last check + return
    assert loop.cost.ops == 2 * 2000 + 3
    assert builtin.cost.ops == 1
    assert loop.cost.perf_cpu_s > 0 and builtin.cost.perf_cpu_s > 0
    assert wrong.cost.ops is None and wrong.cost.perf_cpu_s is None


def test_operation_count_is_identical_across_runs():
    runs = run_many([Job(f"loop{i}", TASK, LOOP, profile=True, repeats=1) for i in range(4)], SandboxConfig())
    assert len({r.cost.ops for r in runs}) == 1
