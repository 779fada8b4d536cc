"""The statistical promotion gate: intervals over tasks, guards, tags, noise, the record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codealign.errors import ConfigError, InputError
from codealign.trainer.gate import (GateConfig, GateDecision, Objective, TaskOutcomes, count_outcomes, decide,
                                    read_outcomes)

N = 16          # samples per task, as the demo evaluates


def outcomes(passed: list[int], secure: list[int] | None = None, cost: float = 0.0) -> dict[str, TaskOutcomes]:
    """Per task t0, t1, ...: `passed[i]` honest passes of N, `secure[i]` of them secure (all
    by default), each pass costing `cost`."""
    secure = passed if secure is None else secure
    return {f"t{i}": TaskOutcomes(N, p, s, cost * p, p if cost else 0)
            for i, (p, s) in enumerate(zip(passed, secure))}


def varied(k: int = 24, shift: int = 0) -> list[int]:
    """Pass counts of k tasks of mixed difficulty, each moved by `shift` (clipped to 0..N)."""
    return [min(N, max(0, (i * 5) % (N + 1) + shift)) for i in range(k)]


def test_a_steady_gain_over_tasks_is_promoted():
    d = decide(outcomes(varied(shift=3)), outcomes(varied()), GateConfig())
    assert d.promoted and d.status == "promoted"
    assert d.gain == d.pass_at_1 and d.gain.low > 0 and d.gain.tasks == 24
    assert "lower bound exceeds 0.0" in d.reason


def test_a_gain_on_a_few_tasks_among_many_is_not_enough():
    # Three tasks of 24 improve a lot, one falls: the point estimate is positive (today's rule
    # would promote), the interval over tasks is not clear of zero.
    before = varied()
    after = list(before)
    for i in (0, 5, 10):
        after[i] = min(N, after[i] + 4)
    after[3] = max(0, after[3] - 6)
    d = decide(outcomes(after), outcomes(before), GateConfig())
    assert d.pass_at_1.value > 0 and d.pass_at_1.low <= 0
    assert not d.promoted and "does not exceed" in d.reason


def _aa_rounds(rng: np.random.Generator, repeats: int, tasks: int = 26):
    """Pairs of evaluations of one policy with different sampling seeds: per task a pass rate
    (mixed difficulty) and a secure share; each side draws its N samples on its own."""
    for _ in range(repeats):
        p = rng.choice([0.0, 0.2, 0.5, 0.7, 0.9, 1.0], size=tasks)
        q = rng.uniform(0.3, 1.0, size=tasks)

        def draw():
            passed = rng.binomial(N, p)
            return outcomes(list(passed), list(rng.binomial(passed, q)))
        yield draw(), draw()


def test_noise_only_rounds_are_not_promoted():
    config = GateConfig(objective="composite")
    decisions = [decide(cand, inc, config) for cand, inc in _aa_rounds(np.random.default_rng(7), 200)]
    promoted = sum(d.promoted for d in decisions)
    point = sum(d.gain.value > 0 for d in decisions)    # the point-estimate rule: about half
    assert promoted <= 10, promoted                     # <= 5% of 200 (4 here)
    assert point >= 60, point                           # (89 here)


def test_the_same_outcomes_are_never_promoted():
    same = outcomes(varied())
    d = decide(same, same, GateConfig(objective="composite"))
    assert not d.promoted and d.gain.value == d.gain.low == d.gain.high == 0.0


def test_pass_at_1_guard_uses_the_upper_bound():
    # Security rises a lot; pass@1 falls on every task.
    before = outcomes(varied(), [v // 2 for v in varied()])
    fell = outcomes(varied(shift=-3), varied(shift=-3))
    config = GateConfig(objective="secure_rate", pass_at_1_tolerance=0.05)
    d = decide(fell, before, config)
    assert d.pass_at_1.high < -0.05 and not d.promoted
    assert d.reason.startswith("pass@1 fell") and "-0.05" in d.reason
    # A fall whose interval reaches above the tolerance does not reject: security decides.
    d = decide(fell, before, GateConfig(objective="secure_rate", pass_at_1_tolerance=0.5))
    assert d.promoted and d.secure_rate.low > 0


def test_secure_rate_guard():
    before = outcomes(varied())
    worse = outcomes(varied(shift=2), [v // 2 for v in varied(shift=2)])
    d = decide(worse, before, GateConfig(objective="pass@1"))
    assert d.pass_at_1.low > 0 and d.secure_rate.high < -0.02
    assert not d.promoted and d.reason.startswith("secure rate fell")


def test_mean_cost_objective_is_the_relative_fall():
    before, after = outcomes(varied(), cost=100.0), outcomes(varied(), cost=80.0)
    d = decide(after, before, GateConfig(objective=Objective.MEAN_COST))
    assert d.cost_reduction.value == pytest.approx(0.2) and d.gain == d.cost_reduction and d.promoted
    assert not decide(before, after, GateConfig(objective="mean_cost")).promoted


def test_cost_is_left_out_unless_weighed():
    before, after = outcomes(varied(), cost=100.0), outcomes(varied(), cost=80.0)
    d = decide(after, before, GateConfig(objective="composite"))
    assert d.cost_reduction is None and not d.promoted          # w_cost 0: nothing changed
    d = decide(after, before, GateConfig(objective="composite", w_cost=0.1))
    assert d.cost_reduction.value == pytest.approx(0.2) and d.gain.value == pytest.approx(0.02)
    assert d.promoted


def test_composite_weighs_the_deltas_inside_each_draw():
    before = outcomes(varied(), [v // 2 for v in varied()])
    after = outcomes(varied(), varied())                         # pass@1 same, all secure
    config = GateConfig(objective="composite", w_pass=1.0, w_secure=0.5)
    d = decide(after, before, config)
    assert d.pass_at_1.value == 0 and d.gain.value == pytest.approx(0.5 * d.secure_rate.value, abs=1e-6)
    assert d.promoted


def test_min_improvement_applies_to_the_lower_bound():
    d = decide(outcomes(varied(shift=3)), outcomes(varied()), GateConfig(min_improvement=0.5))
    assert d.gain.low > 0 and not d.promoted
    # A negative one is a non-inferiority margin: no gain needed, the guards still apply.
    same = outcomes(varied())
    assert decide(same, same, GateConfig(min_improvement=-0.01)).promoted
    assert not decide(outcomes(varied(shift=-4)), same, GateConfig(min_improvement=-1.0)).promoted


def test_a_regressed_tag_is_flagged_and_rejected_when_the_recipe_says_so():
    # pass@1 rises over 24 tasks; the two tasks tagged "habit:x" fall from 14/16 to 2/16.
    before, after = varied(), varied(shift=4)
    before[0], before[1], after[0], after[1] = 14, 14, 2, 2
    tags = {f"t{i}": (["habit:x", "strings"] if i < 2 else ["strings"]) for i in range(24)}
    d = decide(outcomes(after), outcomes(before), GateConfig(), tags=tags)
    habit = {t.tag: t for t in d.tags}["habit:x"]
    assert habit.tasks == 2 and habit.pass_at_1.value == pytest.approx(-0.75) and habit.regressed
    assert {t.tag for t in d.tags} == {"habit:x", "strings"} and not {t.tag: t for t in d.tags}["strings"].regressed
    assert d.promoted and d.regressed_tags == ("habit:x",) and "flagged: tag(s) habit:x" in d.reason
    d = decide(outcomes(after), outcomes(before), GateConfig(reject_tag_regressions=True), tags=tags)
    assert not d.promoted and d.reason.startswith("tag(s) habit:x regressed")


def test_a_tag_with_few_tasks_gets_an_interval_that_sees_sampling_noise():
    # Two tasks, both 8/16 -> 6/16: a task-only bootstrap would give [-0.125, -0.125].
    d = decide(outcomes([6, 6]), outcomes([8, 8]), GateConfig(), tags={"t0": ["a"], "t1": ["a"]})
    (tag,) = d.tags
    assert tag.pass_at_1.low < -0.125 < tag.pass_at_1.high and tag.pass_at_1.high > 0 and not tag.regressed


def test_decision_record_round_trips_through_json():
    before, after = varied(), varied(shift=2)
    tags = {f"t{i}": ["a" if i % 2 else "b"] for i in range(24)}
    d = decide(outcomes(after, cost=3e-6), outcomes(before, cost=4e-6),
               GateConfig(objective="composite", w_cost=0.1), tags=tags, incumbent_round=2)
    record = json.loads(json.dumps(d.to_dict()))
    assert record["schema"] == GateDecision.SCHEMA and record["status"] == d.status
    assert record["incumbent_round"] == 2 and len(record["tags"]) == 2
    assert GateDecision.from_dict(record) == d
    not_evaluated = GateDecision.not_evaluated("no preference pairs", GateConfig(), 1)
    assert GateDecision.from_dict(not_evaluated.to_dict()) == not_evaluated


def test_schema_1_records_are_read_and_unknown_ones_refused():
    old = {"status": "rejected", "promoted": False, "reason": "pass@1 did not improve", "objective": "pass@1",
           "delta": 0.0, "pass_at_1_delta": 0.0, "incumbent_round": 1}
    d = GateDecision.from_dict(old)
    assert d.status == "rejected" and d.incumbent_round == 1 and d.gain is None
    with pytest.raises(InputError, match="schema 9"):
        GateDecision.from_dict({**d.to_dict(), "schema": 9})


def test_nothing_in_common_is_rejected():
    d = decide({"a": TaskOutcomes(4, 4, 4, 0.0, 0)}, {"b": TaskOutcomes(4, 0, 0, 0.0, 0)}, GateConfig())
    assert not d.promoted and "no held-out task" in d.reason and d.gain is None


def test_outcomes_are_read_from_the_evaluate_stage_lines(tmp_path):
    path = tmp_path / "outcomes.jsonl"
    rows = [{"task_id": "t", "sample_id": "s1", "honest": True, "secure": True, "cost": 1e-6},
            {"task_id": "t", "sample_id": "s2", "honest": True, "secure": None, "cost": None},
            {"task_id": "u", "sample_id": "s3", "honest": False, "secure": None, "cost": None}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_outcomes(path) == count_outcomes(rows) == {
        "t": TaskOutcomes(2, 2, 1, 1e-6, 1), "u": TaskOutcomes(1, 0, 0, 0.0, 0)}
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"task_id": "t"}) + "\n")
    with pytest.raises(InputError) as err:
        read_outcomes(path)
    assert err.value.line == 2 and err.value.path == str(path)


@pytest.mark.parametrize("kwargs, field", [({"objective": "speed"}, "objective"),
                                           ({"pass_at_1_tolerance": -0.1}, "pass_at_1_tolerance"),
                                           ({"tag_tolerance": "x"}, "tag_tolerance"),
                                           ({"reject_tag_regressions": "yes"}, "reject_tag_regressions"),
                                           ({"confidence": 1.0}, "confidence"),
                                           ({"min_improvement": float("nan")}, "min_improvement"),
                                           ({"w_cost": "x"}, "w_cost")])
def test_gate_config_rejects(kwargs, field):
    with pytest.raises(ConfigError) as err:
        GateConfig(**kwargs)
    assert err.value.field == field
