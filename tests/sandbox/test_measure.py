"""The execute stage's measuring run: only the candidate's call is timed, inputs cross once
as plain data, the tests' own calls are the workload when a task has nothing else, and the
repeats and the test timeout come from SandboxConfig."""

from __future__ import annotations

import pytest

from codealign.errors import SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, Status, plan_tests, run_many
from codealign.sandbox.wire import job_frame
from codealign.sandbox.zygote import JobKey
from codealign.tasks.task import Task

BIG = Task(task_id="m/first", prompt="def first(xs):\n", entry_point="first",
           tests="assert first([4, 5]) == 4\n", perf_inputs=("(list(range(1000000)),)",),
           timeout_s=20.0, memory_mb=512)
CONSTANT = "def first(xs):\n    return xs[0]\n"
LINEAR = "def first(xs):\n    for x in xs:\n        pass\n    return xs[0]\n"
# mutating its argument must not change what the next timed call sees
MUTATING = "def first(xs):\n    x = xs[0]\n    xs.clear()\n    return x\n"


def _run(jobs, config=None):
    try:
        return run_many(jobs, config or SandboxConfig(workers=1))
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


def test_transfer_of_a_large_input_is_not_the_candidates_cpu_time():
    constant, linear, mutating = _run([Job("c", BIG, CONSTANT, profile=True),
                                       Job("l", BIG, LINEAR, profile=True),
                                       Job("m", BIG, MUTATING, profile=True)])
    assert constant.sandbox_passed and linear.sandbox_passed and mutating.sandbox_passed
    assert constant.cost.ops == 1 and linear.cost.ops == 2 * 1000000 + 2
    # O(1) on a million-element list vs a pass over it: three orders of magnitude apart
    # when only the call is timed; moving the list in took ~0.1 s before it was.
    assert constant.cost.perf_cpu_s * 20 < linear.cost.perf_cpu_s
    assert mutating.cost.ops == 3 and not mutating.flags


SCRIPTED = Task(task_id="m/total", prompt="def total(xs):\n", entry_point="total",
                tests="def check(candidate):\n    xs = list(range(300))\n"
                      "    assert candidate(xs) == sum(xs)\n    assert candidate(xs[:5]) == 10\n",
                timeout_s=10.0, memory_mb=256)


def test_without_perf_inputs_or_literal_calls_the_tests_own_calls_are_measured():
    plan = plan_tests(SCRIPTED.tests, SCRIPTED.entry_point)
    assert not plan.calls and plan.scripts
    loop = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
    fast, slow = _run([Job("fast", SCRIPTED, "def total(xs):\n    return sum(xs)\n", profile=True),
                       Job("slow", SCRIPTED, loop, profile=True)],
                      SandboxConfig(workers=1, synthesise_perf_inputs=False))
    assert fast.sandbox_passed and slow.sandbox_passed
    assert fast.cost.ops == 2 and slow.cost.ops == (2 * 300 + 3) + (2 * 5 + 3)
    assert fast.cost.perf_cpu_s is not None and slow.cost.perf_cpu_s is not None


def test_repeats_and_test_timeout_come_from_the_sandbox_config():
    job = Job("s", BIG, CONSTANT, profile=True)
    plan = plan_tests(BIG.tests, BIG.entry_point)
    assert job_frame(job, plan, SandboxConfig(repeats=3))[JobKey.REPEATS] == 3
    assert job_frame(job, plan, SandboxConfig(timeout_s=1.5))[JobKey.TIMEOUT_S] == 1.5
    assert job_frame(job, plan, SandboxConfig())[JobKey.TIMEOUT_S] == BIG.timeout_s
    sleeper = "def first(xs):\n    import time\n    time.sleep(5)\n    return xs[0]\n"
    (slow,) = _run([Job("z", BIG, sleeper)], SandboxConfig(workers=1, timeout_s=0.5))
    assert slow.status is Status.TIMEOUT and "0.5s" in slow.detail


@pytest.mark.parametrize("bad", [{"repeats": 0}, {"repeats": 101}, {"repeats": 2.5},
                                 {"timeout_s": 0}, {"timeout_s": -1.0}, {"timeout_s": "5"}])
def test_sandbox_config_rejects_bad_repeats_and_timeouts(bad):
    from codealign.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        SandboxConfig(**bad)
    assert info.value.field == next(iter(bad))         # the run config's loader adds "sandbox."
