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


FIB = Task(task_id="p/fib", prompt="def fib(n):\n", entry_point="fib",
           tests="assert fib(10) == 55\nassert fib(1) == 1\nassert fib(7) == 13\n",
           perf_inputs=("(32,)",), timeout_s=1.0, memory_mb=256)
NAIVE = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
ITERATIVE = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"


def test_a_sample_too_slow_to_profile_passes_with_a_lower_bound_cost():
    """Naive double recursion on fib(32) runs past the profile's CPU budget (one task
    timeout per pass): it still passes, and its figures say "at least this much"."""
    slow, fast = run_many([Job("slow", FIB, NAIVE, profile=True), Job("fast", FIB, ITERATIVE, profile=True)],
                          SandboxConfig(workers=1))
    assert slow.status is fast.status is Status.PASSED
    assert slow.cost.lower_bound and not fast.cost.lower_bound
    assert slow.cost.perf_cpu_s >= FIB.timeout_s          # the CPU used when stopped: >= the budget
    assert slow.cost.ops is not None and slow.cost.ops > 100_000   # the count it had reached
    assert any(f.startswith("perf-timeout: profiling stopped at its CPU budget") for f in slow.flags)
    assert fast.cost.perf_cpu_s < 0.01 and not any(f.startswith("perf-timeout") for f in fast.flags)
    # the job timed a plain line event beside it: this machine's unit of a small difference
    assert fast.cost.op_s is not None and 1e-10 < fast.cost.op_s < 1e-5


def test_the_slow_sample_ranks_last_and_its_efficiency_pair_forms():
    from codealign.generator.sample import Sample
    from codealign.judges import judge_samples
    from codealign.judges.pairs import PairReason

    samples = [Sample(FIB.task_id, "fib#naive", NAIVE), Sample(FIB.task_id, "fib#loop", ITERATIVE)]
    verdicts, pairs, _ = judge_samples([FIB], samples, SandboxConfig(workers=1))
    by_id = {v.sample_id: v for v in verdicts}
    assert by_id["fib#naive"].passed and by_id["fib#loop"].passed
    assert by_id["fib#loop"].rank < by_id["fib#naive"].rank
    assert [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id) for p in pairs
            if p.reason is PairReason.EFFICIENCY] == [("fib#loop", "fib#naive")]
