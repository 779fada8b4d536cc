"""Differential testing against the reference: how the tests compare, which inputs are
derived, and what the sandbox makes of them (wrong programs fail naming the input, correct
ones pass, the reference's and the contract's say is honoured, all of it in the sandbox)."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path

import pytest

from codealign.errors import SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, Status, run_many
from codealign.sandbox.inputs import synthesise_inputs
from codealign.sandbox.strengthen import MAX_POOL, Comparison, comparison, mutants
from codealign.tasks.task import Task



def _task(tests: str, entry: str = "f", reference: str | None = None, **kw) -> Task:
    return Task(task_id=f"s/{entry}", prompt=f"def {entry}(*a):\n", entry_point=entry, tests=tests,
                reference=reference, **kw)


# ------------------------------------------------------------------ how the tests compare


@pytest.mark.parametrize("tests, expected", [
    ("assert f(1) == 2\nassert f(2) == 3\n", Comparison("equal")),
    ("def check(candidate):\n    assert tuple(candidate([1])) == (1,)\n", Comparison("equal", "tuple")),
    ("assert set(f(1)) == {1}\nassert f(2) == [2]\n", Comparison("equal", "set")),
    ("assert f(1) is True\nassert f(2) is False\n", Comparison("equal", strict=True)),
    ("assert f(1)\nassert not f(2)\n", Comparison("truth")),
    ("assert abs(f(1.5) - 0.5) < 1e-6\nassert f(2.0) == 0.0\n", Comparison("close", abs_tol=1e-6)),
    ("import math\nassert math.isclose(f(2), 4.0, rel_tol=0.001)\n", Comparison("close", rel_tol=0.001)),
])
def test_the_comparison_is_read_from_the_tests(tests, expected):
    assert comparison(_task(tests)) == (expected, "")


@pytest.mark.parametrize("tests", [
    "x = f(3)\nassert x in (1, 2)\n",                    # the result used outside an assert
    "assert f(3) in (1, 2)\n",                          # a comparison that is not modelled
    "assert f(f(3)) == 1\n",
])
def test_other_uses_of_a_result_get_no_differential_tests(tests):
    how, why = comparison(_task(tests))
    assert how is None and why


def test_floats_compare_within_a_tolerance_and_normalizers_apply_to_both():
    assert Comparison("equal").same([0.1 + 0.2, 1], [0.3, 1])
    assert not Comparison("equal").same([0.3, 1], [0.3, 2]) and not Comparison("equal").same([1], (1,))
    assert Comparison("equal", "set").same([3, 1, 1], [1, 3])
    assert not Comparison("equal", strict=True).same(True, 1)
    assert Comparison("truth").same([1], True) and not Comparison("truth").same([], True)
    assert Comparison("close", abs_tol=1e-3).same(0.5, 0.5004)


# ------------------------------------------------------------------ which inputs


def _args(task: Task) -> list[tuple]:
    return [ast.literal_eval(src) for src in mutants(task)]


def test_mutants_keep_what_the_tests_literals_share():
    task = _task("assert f([1, 3, 5], 2) == 1\nassert f([2, 4, 8, 9], 3) == 2\nassert f([7], 1) == 0\n")
    found = _args(task)
    assert found and len(found) <= MAX_POOL
    assert found == _args(task)                                  # deterministic
    for xs, n in found:
        assert type(xs) is list and type(n) is int
        assert xs == sorted(xs) and len(set(xs)) == len(xs)       # sorted, distinct as the tests
        assert xs and all(x >= 1 for x in xs) and 1 <= n <= 3     # non-empty, within range
    assert ([1, 3, 5], 2) not in found                           # a test's own input is no mutant
    assert any(len(xs) == 4 for xs, _ in found) and any(len(xs) == 2 for xs, _ in found)


def test_string_mutants_keep_their_runs_and_relations_between_arguments_hold():
    task = _task("assert f('10110', '01001') == '11111'\nassert f('111', '101') == '010'\n")
    found = _args(task)
    assert found
    for a, b in found:
        assert len(a) == len(b) and set(a + b) <= {"0", "1"}      # one length, the same digits
    dates = _task("assert f('03-11-2000') == True\nassert f('15-01-2012') == False\n"
                  "assert f('04-12-2014') == True\n")
    for (d,) in _args(dates):
        assert [len(p) for p in d.split("-")] == [2, 2, 4] and d.count("-") == 2
    parens = _task("assert f('(()) ()') == ['(())', '()']\n")
    assert all(p.count("(") == p.count(")") for (p,) in _args(parens))


# ------------------------------------------------------------------ in the sandbox

MAX_GAP = _task(
    "assert max_gap([1, 5, 6]) == 4\nassert max_gap([3, 10]) == 7\nassert max_gap([2, 4, 5, 13]) == 8\n",
    "max_gap",
    "def max_gap(xs):\n    return max(b - a for a, b in zip(xs, xs[1:]))\n")
# Passes the three tests (the gap is always right after the first element or last) ...
WRONG = "def max_gap(xs):\n    return max(xs[1] - xs[0], xs[-1] - xs[-2])\n"
# ... and a correct program written differently
OTHER = ("def max_gap(xs):\n    best = 0\n    for i in range(1, len(xs)):\n"
         "        best = max(best, xs[i] - xs[i - 1])\n    return best\n")


def _config(tmp_path, **kw) -> SandboxConfig:
    return SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path / "cache"), **kw)


def _run(jobs, config):
    try:
        return run_many(jobs, config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


def test_a_wrong_but_passing_program_fails_naming_the_input_and_both_outputs(tmp_path):
    plain = _run([Job("wrong", MAX_GAP, WRONG)], _config(tmp_path, differential=False))[0]
    assert plain.status is Status.PASSED                         # the task's own tests miss it
    wrong, other, reference = _run([Job("wrong", MAX_GAP, WRONG), Job("other", MAX_GAP, OTHER),
                                    Job("ref", MAX_GAP, MAX_GAP.reference)], _config(tmp_path))
    assert wrong.status is Status.FAILED and wrong.tests_total > plain.tests_total
    assert wrong.detail.startswith("diff[") and "on input ([" in wrong.detail
    assert "the reference returned" in wrong.detail and "this returned" in wrong.detail
    failing = [o for o in wrong.outcomes if not o.passed]
    assert failing and all(o.name.startswith("diff[") for o in failing)
    assert other.status is reference.status is Status.PASSED
    assert other.tests_total == wrong.tests_total
    assert reference.tests_total == plain.tests_total   # the reference is not compared with itself


def test_inputs_on_which_the_reference_raises_are_dropped(tmp_path):
    # The reference rejects what the prompt excludes (a list with a zero) by raising.
    task = _task("assert inv([1, 2]) == [1.0, 0.5]\nassert inv([4, 5, 8]) == [0.25, 0.2, 0.125]\n", "inv",
                 "def inv(xs):\n    if 3 in xs:\n        raise ValueError('no threes')\n"
                 "    return [1 / x for x in xs]\n")
    diff = _synthesise([task], tmp_path)[task.task_id].diff
    assert diff.counts["raised"] > 0 and diff.cases
    assert all(3 not in ast.literal_eval(c.args)[0] for c in diff.cases)


def test_an_input_contract_is_honoured(tmp_path):
    # The prompt says "a list of two or more numbers"; the reference does not check it.
    contract = "def input_check(xs, k):\n    return len(xs) >= 2\n"
    task = _task("assert nth([5, 1, 4], 2) == 1\nassert nth([2, 9], 1) == 2\nassert nth([3, 3, 7, 1], 4) == 1\n",
                 "nth", "def nth(xs, k):\n    return xs[k - 1]\n", input_check=contract)
    diff = _synthesise([task], tmp_path)[task.task_id].diff
    assert diff.counts["rejected"] > 0 and diff.cases
    assert all(len(xs) >= 2 for xs, _ in (ast.literal_eval(c.args) for c in diff.cases))
    # Without the contract, one-element lists would be expected of every sample.
    loose = _synthesise([dataclasses.replace(task, input_check=None)], tmp_path)[task.task_id].diff
    assert any(len(xs) < 2 for xs, _ in (ast.literal_eval(c.args) for c in loose.cases))


def test_a_nondeterministic_reference_is_no_oracle(tmp_path):
    task = _task("assert pick([3]) == 3\nassert pick([4, 4]) == 4\nassert pick([5, 1, 7, 2, 9, 3, 8])\n",
                 "pick", "import random\ndef pick(xs):\n    return random.choice(xs)\n")
    diff = _synthesise([task], tmp_path)[task.task_id].diff
    assert diff.counts["unstable"] > 0 and not diff.cases and "differently" in diff.why


def test_a_program_far_slower_than_the_reference_fails_on_the_operation_budget(tmp_path):
    slow = ("def max_gap(xs):\n    best = 0\n    for i in range(1, len(xs)):\n"
            "        for _ in range(300000):\n            pass\n"
            "        best = max(best, xs[i] - xs[i - 1])\n    return best\n")
    (run,) = _run([Job("slow", dataclasses.replace(MAX_GAP, timeout_s=60.0), slow)], _config(tmp_path))
    assert run.status is Status.FAILED and "operation budget" in run.detail


def _synthesise(tasks, tmp_path):
    try:
        return synthesise_inputs(tasks, _config(tmp_path), profile=False).tasks
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


@pytest.mark.parametrize("where", ["reference", "input_check"])
def test_a_hostile_reference_or_contract_runs_in_the_sandbox_only(tmp_path, where):
    canary, marker = tmp_path / "escaped", Path(f"/tmp/codealign-hostile-{where}-{os.getpid()}")
    evil = ("import os\n"
            f"open({str(canary)!r}, 'w').write('escaped')\n"
            f"os.system('touch {marker}')\n")
    reference, check = "def f(xs):\n    return sum(xs)\n", "def input_check(xs):\n    return True\n"
    if where == "reference":
        reference = evil + reference
    else:
        check = evil + check
    task = _task("assert f([1, 2]) == 3\nassert f([4]) == 4\n", reference=reference, input_check=check)
    found = _synthesise([task], tmp_path)[task.task_id].diff
    assert found is not None                   # synthesis finished, whatever it kept
    assert not canary.exists() and not marker.exists()


def test_the_disagreement_shows_in_the_verdict_and_the_pair(tmp_path):
    from codealign.generator.sample import Sample
    from codealign.judges import judge_samples
    from codealign.judges.pairs import PairReason

    samples = [Sample(MAX_GAP.task_id, "s#right", OTHER), Sample(MAX_GAP.task_id, "s#wrong", WRONG)]
    try:
        verdicts, pairs, _ = judge_samples([MAX_GAP], samples, _config(tmp_path))
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    wrong = next(v for v in verdicts if v.sample_id == "s#wrong")
    assert not wrong.passed and "the reference returned" in wrong.explanation
    (pair,) = [p for p in pairs if p.reason is PairReason.CORRECTNESS]
    assert pair.rejected_verdict.sample_id == "s#wrong"
    assert "on input" in pair.to_dict()["rejected_verdict"]["explanation"]
