"""Tasks without perf inputs (as HumanEval, MBPP and most submitted tasks are): the cost
is measured on inputs synthesised from the tests' own calls, and fast beats slow —
including builtins-heavy slow code the op count cannot see, and slow code that is simpler."""

from __future__ import annotations

import pytest

from codealign.errors import SandboxUnavailable
from codealign.generator.sample import Sample
from codealign.judges import judge_samples
from codealign.judges.pairs import Basis, PairConfig, PairReason, clearly_cheaper, why_no_pair
from codealign.sandbox import SandboxConfig
from codealign.sandbox.inputs import synthesise_inputs, vote_perf_inputs
from codealign.sandbox.perfinputs import candidates
from codealign.tasks.task import Task

SORT = Task(task_id="cost/sort", prompt="def sort_list(xs):\n", entry_point="sort_list",
            tests="def check(candidate):\n    assert candidate([3, 1, 2]) == [1, 2, 3]\n"
                  "    assert candidate([5, 4, 9, 0, 7]) == [0, 4, 5, 7, 9]\n"
                  "    assert candidate([]) == []\n",
            reference="def sort_list(xs):\n    return sorted(xs)\n", timeout_s=10.0)
DISTINCT = Task(task_id="cost/distinct", prompt="def count_distinct(xs):\n",
                entry_point="count_distinct",
                tests="assert count_distinct([1, 2, 2, 3]) == 3\nassert count_distinct([]) == 0\n"
                      "assert count_distinct([4, 4, 4, 1, 9, 8]) == 4\n",
                reference="def count_distinct(xs):\n    return len(set(xs))\n", timeout_s=10.0)
SAMPLES = {
    ("cost/sort", "builtin"): "def sort_list(xs):\n    return sorted(xs)\n",
    # hand-written quadratic insertion sort
    ("cost/sort", "quadratic"): (
        "def sort_list(xs):\n    out = list(xs)\n    for i in range(1, len(out)):\n"
        "        j = i\n        while j > 0 and out[j - 1] > out[j]:\n"
        "            out[j - 1], out[j] = out[j], out[j - 1]\n            j -= 1\n    return out\n"),
    # longer but linear
    ("cost/distinct", "set-loop"): (
        "def count_distinct(xs):\n    seen = set()\n    for x in xs:\n        if x not in seen:\n"
        "            seen.add(x)\n    return len(seen)\n"),
    # one short line, quadratic inside C (slicing and list membership): fewer line events
    # per element than the loop above, far more work
    ("cost/distinct", "one-liner"): (
        "def count_distinct(xs):\n    return len([x for i, x in enumerate(xs) if x not in xs[:i]])\n"),
}
FAST, SLOW = {"cost/sort": "builtin", "cost/distinct": "set-loop"}, {"cost/sort": "quadratic",
                                                                      "cost/distinct": "one-liner"}
BASIS = {"cost/sort": Basis.OPS, "cost/distinct": Basis.CPU}


def test_candidates_scale_the_tests_arguments_deterministically():
    srcs, groups = candidates(SORT)
    assert srcs == candidates(SORT)[0] and len(set(groups)) >= 2
    longest = max(srcs, key=len)
    assert len(eval(longest)[0]) == 5 * 1000   # [5, 4, 9, 0, 7] grown 1000 times
    assert sorted(set(eval(longest)[0])) == sorted(eval(longest)[0])  # still distinct


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    config = SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path_factory.mktemp("inputs-cache")))
    samples = [Sample(t, f"{t}::{name}", code) for (t, name), code in SAMPLES.items()]
    try:
        verdicts, pairs, _ = judge_samples([SORT, DISTINCT], samples, config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    return config, verdicts, pairs


def test_inputs_are_synthesised_and_cached(judged):
    config = judged[0]
    found = synthesise_inputs([SORT, DISTINCT], config, executor=_NoSandbox())   # all cached now
    assert all(s.perf.inputs and s.perf.source == "reference" for s in found.tasks.values()), found
    assert all(len(src) > 1000 for s in found.tasks.values() for src in s.perf.inputs)


class _NoSandbox:
    """An executor that must not be asked for anything (everything comes from the cache)."""

    def run(self, items, on_result=None, cancel=None):
        raise AssertionError(f"probed again: {items}")


@pytest.mark.parametrize("task_id", ["cost/sort", "cost/distinct"])
def test_fast_ranks_above_slow_and_the_efficiency_pair_says_so(judged, task_id):
    _, verdicts, pairs = judged
    by_name = {v.sample_id.split("::")[1]: v for v in verdicts if v.task_id == task_id}
    fast, slow = by_name[FAST[task_id]], by_name[SLOW[task_id]]
    assert fast.passed and slow.passed
    assert fast.rank < slow.rank, (fast.explanation, slow.explanation)
    assert "better efficiency" in slow.explanation
    # the efficiency rule pairs them, on the op count (insertion sort) or, where the slow one
    # executes fewer line events and works inside C, on measured cost alone
    assert why_no_pair(PairReason.EFFICIENCY, fast, slow) is None
    assert clearly_cheaper(fast, slow, PairConfig()).basis is BASIS[task_id]
    # and they make one pair, fast chosen: efficiency's, or the static judge's that also holds
    made = [(p.reason, p.chosen_verdict.sample_id) for p in pairs
            if p.task_id == task_id and p.rejected_verdict.sample_id == slow.sample_id
            and p.reason is not PairReason.CORRECTNESS]
    assert len(made) == 1 and made[0][1] == fast.sample_id
    assert made[0][0] in (PairReason.EFFICIENCY, PairReason.MAINTAINABILITY)


def test_without_a_reference_the_passing_samples_majority_vouches_for_the_inputs(tmp_path):
    import dataclasses

    from codealign.sandbox import Job, run_many

    task = dataclasses.replace(DISTINCT, task_id="cost/distinct-noref", reference=None)
    wrong = "def count_distinct(xs):\n    return len(xs) if len(xs) > 6 else len(set(xs))\n"
    codes = {"set-loop": SAMPLES[("cost/distinct", "set-loop")],
             "one-liner": SAMPLES[("cost/distinct", "one-liner")],
             "builtin": "def count_distinct(xs):\n    return len(set(xs))\n",
             "big-input-wrong": wrong}   # passes the tiny tests, outvoted on large inputs
    config = SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path))
    try:
        runs = run_many([Job(k, task, v, profile=True) for k, v in codes.items()], config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    by_id = {r.sample_id: r for r in runs}
    assert all(r.sandbox_passed for r in runs)
    found = vote_perf_inputs([task], {task.task_id: list(codes.values())}, config,
                             executor=_NoSandbox()).tasks[task.task_id].perf
    assert found.inputs and found.source == "votes"   # cached by the run above
    fast, slow = by_id["set-loop"].cost, by_id["one-liner"].cost
    assert fast.ops > slow.ops   # the op count alone would prefer the one-liner
    assert fast.perf_cpu_s * 2 < slow.perf_cpu_s
