"""The promotion gate: pass@1 tolerance first, then the objective must improve."""

from __future__ import annotations

import pytest

from codealign.errors import ConfigError
from codealign.trainer.gate import GateConfig, Objective, decide

BASE = {"pass@1": 0.50, "secure_rate": 0.60, "mean_cost": 100.0}


def test_promotes_when_pass_at_1_improves():
    d = decide({**BASE, "pass@1": 0.55}, BASE, GateConfig())
    assert d.promoted and d.status == "promoted" and d.delta == pytest.approx(0.05)


def test_rejects_when_objective_does_not_improve():
    d = decide(dict(BASE), BASE, GateConfig())
    assert not d.promoted and "did not improve" in d.reason


def test_pass_at_1_fall_beyond_tolerance_rejects_even_if_objective_improves():
    cfg = GateConfig(objective="secure_rate", pass_at_1_tolerance=0.02)
    d = decide({**BASE, "pass@1": 0.47, "secure_rate": 0.9}, BASE, cfg)
    assert not d.promoted and "more than the tolerance" in d.reason
    d = decide({**BASE, "pass@1": 0.49, "secure_rate": 0.9}, BASE, cfg)
    assert d.promoted and d.pass_at_1_delta == pytest.approx(-0.01)


def test_mean_cost_lower_is_better():
    cfg = GateConfig(objective=Objective.MEAN_COST)
    assert decide({**BASE, "mean_cost": 80.0}, BASE, cfg).delta == pytest.approx(0.2)
    assert not decide({**BASE, "mean_cost": 120.0}, BASE, cfg).promoted


def test_missing_figure_cannot_be_promoted():
    d = decide({**BASE, "secure_rate": None}, BASE, GateConfig(objective="secure_rate"))
    assert not d.promoted and "cannot be compared" in d.reason


def test_composite_weighs_the_three_deltas():
    cfg = GateConfig(objective="composite", w_pass=1.0, w_secure=0.5, w_cost=0.1)
    cand = {"pass@1": 0.50, "secure_rate": 0.70, "mean_cost": 150.0}
    # 0 + 0.5 * 0.10 - 0.1 * 0.5 = 0 -> not an improvement
    d = decide(cand, BASE, cfg)
    assert d.delta == pytest.approx(0.0) and not d.promoted
    d = decide({**cand, "mean_cost": 100.0}, BASE, cfg)
    assert d.delta == pytest.approx(0.05) and d.promoted


def test_min_improvement():
    cfg = GateConfig(min_improvement=0.1)
    assert not decide({**BASE, "pass@1": 0.55}, BASE, cfg).promoted
    assert decide({**BASE, "pass@1": 0.65}, BASE, cfg).promoted


def test_decision_record():
    d = decide({**BASE, "pass@1": 0.6}, BASE, GateConfig()).to_dict()
    assert d["status"] == "promoted" and d["objective"] == "pass@1" and d["reason"]


@pytest.mark.parametrize("kwargs, field", [({"objective": "speed"}, "objective"),
                                           ({"pass_at_1_tolerance": -0.1}, "pass_at_1_tolerance"),
                                           ({"w_cost": "x"}, "w_cost")])
def test_gate_config_rejects(kwargs, field):
    with pytest.raises(ConfigError) as err:
        GateConfig(**kwargs)
    assert err.value.field == field
