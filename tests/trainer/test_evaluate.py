"""pass@k against hand-computed values, the held-out split rule, per-task and overall figures."""

from __future__ import annotations

from math import comb

import pytest

from codealign.trainer.evaluate import (EvalConfig, Outcome, evaluate, is_secure, pass_at_k, split_tasks,
                                       split_tasks_by_tags)
from codealign.errors import ConfigError


@pytest.mark.parametrize("n, c, k, expected", [
    # 1 - C(n-c, k) / C(n, k), worked out by hand:
    (10, 3, 1, 3 / 10),                    # pass@1 = c / n
    (5, 2, 2, 1 - 3 / 10),                 # C(3,2)=3, C(5,2)=10
    (4, 1, 2, 1 - 3 / 6),                  # C(3,2)=3, C(4,2)=6
    (6, 2, 3, 1 - 4 / 20),                 # C(4,3)=4, C(6,3)=20
    (10, 1, 5, 1 - 126 / 252),             # C(9,5)=126, C(10,5)=252
    (10, 0, 5, 0.0),
    (10, 6, 5, 1.0),                       # n - c = 4 < k: every 5-subset holds a pass
    (3, 3, 1, 1.0),
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_stable_for_large_n():
    # The product form never forms C(200, 100) (about 9e58); compare with exact integers.
    n, c, k = 200, 7, 100
    exact = 1 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("n, c, k", [(3, 4, 1), (3, 1, 4), (3, 1, 0), (0, 0, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_split_is_seeded_stable_and_covers_every_task():
    ids = [f"task-{i}" for i in range(200)]
    train, held = split_tasks(ids, 0.25, seed=3)
    assert sorted(train + held) == sorted(ids) and not set(train) & set(held)
    assert 30 <= len(held) <= 70
    assert split_tasks(ids, 0.25, seed=3) == (train, held)
    assert split_tasks(ids, 0.25, seed=4)[1] != held
    # Adding tasks never moves an existing one between the splits.
    _, held_more = split_tasks(ids + [f"new-{i}" for i in range(50)], 0.25, seed=3)
    assert set(held) <= set(held_more)


def test_split_keeps_both_sides_non_empty():
    for fraction in (0.01, 0.99):
        train, held = split_tasks(["a", "b", "c"], fraction, seed=0)
        assert train and held


def test_is_secure_counts_medium_and_high_only():
    assert is_secure([])
    assert is_secure([{"severity": "LOW", "test_id": "B404"}])
    assert not is_secure([{"severity": "MEDIUM"}])
    assert not is_secure([{"severity": "LOW"}, {"severity": "HIGH"}])


def test_evaluate_per_task_and_overall():
    outcomes = (
        # task a: 4 samples, 2 pass (one insecure), costs 10 and 30
        [Outcome("a", True, True, 10.0, 5), Outcome("a", True, False, 30.0, 7),
         Outcome("a", False, None, None, 9), Outcome("a", False, None, None, 3)]
        # task b: 4 samples, 1 passes, secure; the security judge failed on nothing
        + [Outcome("b", True, True, 100.0, 4)] + [Outcome("b", False, None, None, 4)] * 3
    )
    report = evaluate(outcomes, [1, 2], cost_unit="ops", task_ids=["a", "b"])
    a, b = report.tasks
    assert (a.n, a.passed, b.passed) == (4, 2, 1)
    assert a.pass_at["1"] == pytest.approx(0.5) and b.pass_at["1"] == pytest.approx(0.25)
    assert a.pass_at["2"] == pytest.approx(1 - 1 / 6)        # C(2,2)/C(4,2)
    assert b.pass_at["2"] == pytest.approx(1 - 3 / 6)        # C(3,2)/C(4,2)
    assert report.pass_at["1"] == pytest.approx((0.5 + 0.25) / 2)
    assert report.pass_at_1 == report.pass_at["1"]
    assert a.secure_rate == pytest.approx(0.5) and b.secure_rate == pytest.approx(1.0)
    assert report.secure_rate == pytest.approx(2 / 3)         # pooled over passing samples
    assert report.secure_pass_rate == pytest.approx(2 / 8)
    assert report.mean_cost == pytest.approx((10 + 30 + 100) / 3)
    assert a.mean_tokens == pytest.approx(6.0)
    assert report.mean_tokens == pytest.approx((5 + 7 + 9 + 3 + 16) / 8)
    assert report.headline()["pass@1"] == report.pass_at["1"] and "tasks" not in report.headline()
    assert type(report).from_dict(report.to_dict()) == report


def test_unknown_security_is_not_secure_and_is_counted():
    report = evaluate([Outcome("a", True, None, 1.0, 1), Outcome("a", True, True, 1.0, 1)], [1])
    assert report.secure_rate == pytest.approx(0.5) and report.security_unknown == 1


def test_nothing_passing_has_no_secure_rate_or_cost():
    report = evaluate([Outcome("a", False), Outcome("a", False)], [1, 2])
    assert report.pass_at == {"1": 0.0, "2": 0.0}
    assert report.secure_rate is None and report.mean_cost is None


def test_evaluate_requires_every_listed_task():
    with pytest.raises(ValueError, match="no samples"):
        evaluate([Outcome("a", True)], [1], task_ids=["a", "b"])


@pytest.mark.parametrize("kwargs, field", [
    ({"heldout_fraction": 0}, "heldout_fraction"), ({"heldout_fraction": 1.5}, "heldout_fraction"),
    ({"n_samples": 0}, "n_samples"), ({"n_samples": 4, "k": [1, 5]}, "k"), ({"k": [0]}, "k[0]"),
    ({"temperature": -1}, "temperature"), ({"heldout_tags": "habit:a"}, "heldout_tags"),
    ({"heldout_tags": [""]}, "heldout_tags[0]"), ({"strata_prefix": ""}, "strata_prefix"),
])
def test_eval_config_rejects(kwargs, field):
    with pytest.raises(ConfigError) as err:
        EvalConfig(**kwargs)
    assert err.value.field == field


def _tagged(groups: dict[str, int]) -> list[tuple[str, list[str]]]:
    return [(f"{g}-{i}", ["topic", f"habit:{g}"]) for g, n in groups.items() for i in range(n)]


def test_split_by_tags_holds_out_the_control_and_part_of_every_habit():
    tagged = _tagged({"a": 8, "b": 8, "c": 2, "control": 6}) + [("plain", ["topic"])]
    train, held = split_tasks_by_tags(tagged, 0.25, 0, ["habit:control"], "habit:")
    assert {f"control-{i}" for i in range(6)} <= set(held)
    assert len(train) + len(held) == len(tagged) and not set(train) & set(held)
    for group in ("a", "b", "c"):                  # each habit on both sides, even a small one
        ids = {t for t, _ in tagged if t.startswith(group)}
        assert ids & set(held) and ids & set(train), group
    # Within a habit the rule is split_tasks's own: the same ids, the same side.
    a_ids = [t for t, _ in tagged if t.startswith("a-")]
    assert [t for t in held if t.startswith("a-")] == split_tasks(a_ids, 0.25, 0)[1]


def test_split_by_tags_is_stable_when_another_habit_grows():
    base = _tagged({"a": 12, "b": 12})
    _, held = split_tasks_by_tags(base, 0.25, 3, [], "habit:")
    _, held_more = split_tasks_by_tags(base + _tagged({"c": 20}), 0.25, 3, [], "habit:")
    assert set(held) == set(held_more) - {t for t in held_more if t.startswith("c-")}


def test_eval_config_split_uses_tags_only_when_asked():
    class T:
        def __init__(self, task_id, tags):
            self.task_id, self.tags = task_id, tags

    tasks = [T(t, tags) for t, tags in _tagged({"a": 10, "control": 3})]
    plain = EvalConfig(n_samples=4, k=[1])
    assert plain.split(tasks) == split_tasks([t.task_id for t in tasks], 0.25, 0)
    tagged = EvalConfig(n_samples=4, k=[1], heldout_tags=["habit:control"], strata_prefix="habit:")
    assert {"control-0", "control-1", "control-2"} <= set(tagged.split(tasks)[1])
    assert "always held out" in tagged.split_rule()
