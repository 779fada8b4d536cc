"""The paired bootstrap over tasks: hand-checked values, pairing, determinism, degenerate input."""

from __future__ import annotations

import pytest

from codealign.trainer.stats import delta_mean, ratio_of_shares


def test_delta_is_mean_of_per_task_differences():
    a = {"t1": 0.25, "t2": 0.5, "t3": 1.0, "only_a": 0.0}
    b = {"t1": 0.75, "t2": 0.5, "t3": 0.75, "only_b": 1.0}
    iv = delta_mean(a, b)
    assert iv.tasks == 3                                   # common tasks only
    assert iv.value == pytest.approx((0.5 + 0.0 - 0.25) / 3)
    assert iv.low <= iv.value <= iv.high


def test_constant_improvement_has_a_degenerate_interval():
    # Every task improves by exactly 0.25: every resample gives 0.25.
    a = {f"t{i}": i / 40 for i in range(20)}
    b = {t: v + 0.25 for t, v in a.items()}
    iv = delta_mean(a, b)
    assert iv.value == iv.low == iv.high == pytest.approx(0.25)
    assert iv.excludes_zero


def test_pairing_removes_task_difficulty():
    # Task difficulty varies wildly, the policy difference is a steady +0.1: a paired interval
    # is tight and excludes zero; an unpaired one over the same numbers would not.
    a = {f"t{i}": (i % 5) / 5 for i in range(30)}
    b = {t: v + 0.1 for t, v in a.items()}
    iv = delta_mean(a, b)
    assert iv.excludes_zero and iv.high - iv.low < 1e-9


def test_noise_gives_an_interval_around_zero():
    a = {f"t{i}": 0.5 for i in range(40)}
    b = {f"t{i}": 0.5 + (0.25 if i % 2 else -0.25) for i in range(40)}
    iv = delta_mean(a, b)
    assert iv.value == pytest.approx(0.0)
    assert iv.low < 0 < iv.high and not iv.excludes_zero


def test_same_inputs_same_interval_and_seed_matters():
    a = {f"t{i}": (i * 7 % 11) / 11 for i in range(25)}
    b = {f"t{i}": (i * 5 % 11) / 11 for i in range(25)}
    assert delta_mean(a, b) == delta_mean(a, b)
    assert delta_mean(a, b, seed=1) != delta_mean(a, b, seed=2)


def test_no_common_task_is_undefined_not_zero():
    iv = delta_mean({"a": 1.0}, {"b": 0.0})
    assert iv.value is None and iv.low is None and iv.tasks == 0 and not iv.excludes_zero


def test_ratio_of_pooled_shares():
    a = {"t1": (3, 10), "t2": (1, 10)}                     # 4 / 20 = 0.2
    b = {"t1": (1, 10), "t2": (1, 10)}                     # 2 / 20 = 0.1
    iv = ratio_of_shares(a, b)
    assert iv.value == pytest.approx(0.5)
    assert iv.low <= 0.5 <= iv.high


def test_ratio_undefined_when_baseline_share_is_zero():
    iv = ratio_of_shares({"t1": (0, 5)}, {"t1": (2, 5)})
    assert iv.value is None and iv.low is None


def test_to_dict_is_plain_data():
    d = delta_mean({"t": 0.0}, {"t": 1.0}).to_dict()
    assert d["value"] == 1.0 and d["tasks"] == 1 and d["confidence"] == 0.95
