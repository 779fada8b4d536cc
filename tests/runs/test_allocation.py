"""Adaptive sampling: task states from literal verdicts, and the allocation's arithmetic."""

from __future__ import annotations

import doctest

import pytest

from codealign.errors import ConfigError
from codealign.judges.verdict import JudgeScore, Verdict
from codealign.records import Allocation, AllocationMode, TaskState
from codealign.runs import allocation
from codealign.runs.allocation import AllocationConfig, TaskHistory, allocate, task_history
from codealign.sandbox.execution import Cost, Execution, Flag, Status


def test_doctests():
    assert doctest.testmod(allocation).failed == 0


def verdict(task: str, i: int, code: str, passed: bool = True, insecure: bool = False, ops_ratio: float = 1.0,
            lost: bool = False) -> Verdict:
    status = Status.PASSED if passed else Status.FAILED
    execution = Execution(f"{task}#{i}", task, Status.ERROR if lost else status, int(passed), 1,
                          cost=Cost(ops=100), detail="worker lost" if lost else "",
                          flags=(Flag.INFRASTRUCTURE.text(),) if lost else ())
    scores = {"tamper": JudgeScore("tamper", 0.0),
              "security": JudgeScore("security", 3.0 if insecure else 0.0, details={
                  "findings": [{"test_id": "B307", "severity": "MEDIUM"}] if insecure else []}),
              "efficiency": JudgeScore("efficiency", 1 / ops_ratio, details={
                  "baseline_source": "reference", "ops_ratio": ops_ratio})}
    return Verdict(f"{task}#{i}", task, code, execution, scores)


def test_task_states_from_verdicts():
    vs = [verdict("settled", i, "def f(x):\n    return x  # same program\n" + "    " * 0) for i in range(4)]
    vs += [verdict("varied", 0, "def f(x): return x"), verdict("varied", 1, "def f(x): return x + 0")]
    vs += [verdict("mixed", 0, "a = 1"), verdict("mixed", 1, "a = 2", passed=False)]
    vs += [verdict("unsolved", i, f"a = {i}", passed=False) for i in range(3)]
    vs += [verdict("insecure", 0, "a = 1"), verdict("insecure", 1, "a = 1", insecure=True)]
    vs += [verdict("slow", 0, "a = 1", ops_ratio=1.6)]      # 1.5 x the reference's ops flags it
    vs += [verdict("fast-enough", 0, "a = 1", ops_ratio=1.4)]
    history = task_history(vs, 3, slow_ratio=1.5)
    states = {t: h.state for t, h in history.items()}
    assert states == {"settled": TaskState.SETTLED, "varied": TaskState.VARIED, "mixed": TaskState.MIXED,
                      "unsolved": TaskState.UNSOLVED, "insecure": TaskState.FLAGGED, "slow": TaskState.FLAGGED,
                      "fast-enough": TaskState.SETTLED}
    assert history["insecure"] == TaskHistory(3, 2, 2, 1, 1)
    assert "1 with a finding" in history["insecure"].describe()


def test_a_lost_sandbox_is_not_counted():
    vs = [verdict("t", 0, "a = 1"), verdict("t", 1, "a = 2", passed=False, lost=True)]
    assert task_history(vs, 1, 1.5)["t"].state is TaskState.SETTLED
    assert task_history([verdict("u", 0, "a = 1", passed=False, lost=True)], 1, 1.5) == {}


def test_round_one_is_even_and_the_total_is_the_budget():
    ids = [f"t{i}" for i in range(5)]
    first = allocate(ids, {}, AllocationConfig(), 4)
    assert first.counts == dict.fromkeys(ids, 4) and first.budget == 20
    assert {t.state for t in first.tasks} == {TaskState.NEW}
    assert all("no earlier round" in t.reason for t in first.tasks)
    assert allocate(ids, {}, AllocationConfig(budget=7), 4).counts == {"t0": 2, "t1": 2, "t2": 1, "t3": 1, "t4": 1}


def test_settled_tasks_get_few_and_the_rest_goes_to_the_others_up_to_the_cap():
    ids = ["s1", "s2", "m", "u", "n"]
    history = {"s1": TaskHistory(1, 4, 4, 1, 0), "s2": TaskHistory(1, 4, 4, 1, 0),
               "m": TaskHistory(1, 4, 2, 2, 0), "u": TaskHistory(1, 4, 0, 3, 0)}
    a = allocate(ids, history, AllocationConfig(), 4)          # budget 20, cap 8
    assert a.counts == {"s1": 1, "s2": 1, "m": 6, "u": 6, "n": 6}
    assert sum(a.counts.values()) == 20 and a.cap == 8
    by_task = {t.task_id: t for t in a.tasks}
    assert by_task["n"].state is TaskState.NEW and by_task["n"].history_round is None
    assert by_task["u"].reason == "unsolved: 0/4 passed in round 1 -> 6 samples"
    assert by_task["s1"].reason.startswith("settled: 4/4 passed in round 1, clean, 1 distinct program")
    summary = a.summary()
    assert summary.tasks_by_state == {"new": 1, "unsolved": 1, "mixed": 1, "settled": 2}
    assert summary.samples_by_state == {"new": 6, "unsolved": 6, "mixed": 6, "settled": 2}
    # none for settled tasks; weights; the cap; what the cap leaves goes back to the settled
    assert allocate(ids, history, AllocationConfig(settled=0, weights={"new": 0}), 4).counts == \
        {"s1": 0, "s2": 0, "m": 8, "u": 8, "n": 0}
    assert allocate(ids, history, AllocationConfig(cap=5), 4).counts == {"s1": 3, "s2": 2, "m": 5, "u": 5, "n": 5}
    capped = allocate(ids, history, AllocationConfig(cap=5, budget=30), 4)
    assert capped.counts == dict.fromkeys(ids, 5) and capped.summary().samples == 25 and capped.budget == 30
    assert allocate(ids, history, AllocationConfig(weights={"unsolved": 2.0}), 4).counts["u"] == 8


def test_even_mode_ignores_history_and_the_record_round_trips():
    history = {"a": TaskHistory(2, 4, 4, 1, 0)}
    a = allocate(["a", "b"], history, AllocationConfig(mode="even"), 3)
    assert a.counts == {"a": 3, "b": 3} and a.mode is AllocationMode.EVEN
    assert a.tasks[0].state is TaskState.SETTLED and "even (allocation.mode)" in a.tasks[0].reason
    assert Allocation.from_dict(a.to_dict()) == a


@pytest.mark.parametrize("field, value", [("mode", "greedy"), ("budget", 0), ("settled", -1), ("cap", 0),
                                          ("weights", {"settled": 1}), ("weights", {"mixed": -1})])
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        AllocationConfig(**{field: value})
    assert info.value.field.startswith(field)
