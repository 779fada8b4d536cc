"""A profiling timeout is a lower bound that ranks last (judge side), on literal records.

The sandbox marks a passing sample whose profiling ran past its budget with
``Cost.lower_bound``: ``perf_cpu_s`` is the CPU time spent when it was stopped (at least the
budget) and ``ops`` the count reached. Such a sample must get an efficiency figure ("at
least"), rank below every sample that finished, and lose its efficiency pair to a finished
one, with the margin computed from the bound.
"""

from __future__ import annotations

import dataclasses

import pytest

from codealign.generator.sample import Sample
from codealign.judges import judge_executions
from codealign.judges.efficiency import efficiency_baseline, judge_efficiency_group
from codealign.judges.pairs import PairConfig, PairReason
from codealign.sandbox.execution import Cost, Execution, Status
from judge_fixtures import PROGRAMS, REFERENCE, TASK, execution

BUDGET_S = 60.0
# naive: correct, and far too slow to profile (the sandbox stopped it at its budget)
NAIVE = TASK.prompt + ("    out = []\n    for i, x in enumerate(xs):\n"
                       "        if all(x != y for y in xs[:i]):\n            out.append(x)\n"
                       "    return out\n")
NAIVE_2 = TASK.prompt + ("    out = []\n    for x in xs:\n        if not any(x == y for y in out):\n"
                         "            out.append(x)\n    return out\n")


def stopped(sample_id: str, spent_s: float = BUDGET_S + 0.4, ops: int = 987_654) -> Execution:
    return Execution(sample_id, TASK.task_id, Status.PASSED, 3, 3,
                     cost=Cost(cpu_s=spent_s + 0.1, peak_kb=9000, wall_s=spent_s + 1, ops=ops,
                               perf_cpu_s=spent_s, lower_bound=True),
                     flags=("perf-timeout",), backend="literal")


def judge(runs: dict[str, tuple[str, Execution]], reference=REFERENCE):
    samples = [Sample(TASK.task_id, sid, code) for sid, (code, _) in runs.items()]
    return judge_executions([TASK], samples, [e for _, e in runs.values()],
                            {TASK.task_id: reference} if reference else None,
                            pair_config=PairConfig(max_pairs_per_task=50))


def test_a_stopped_profile_gets_an_at_least_figure_marked_as_a_bound():
    scores = judge_efficiency_group([execution("fast"), stopped("naive")], REFERENCE)
    s = scores["naive"]
    assert s.ok and s.details["lower_bound"] is True and "lower bound" in s.details["note"]
    assert s.details["cost_s"] == pytest.approx(BUDGET_S + 0.4)
    assert s.value == pytest.approx(0.009 / (BUDGET_S + 0.4), rel=1e-4)
    assert scores["fast"].details["lower_bound"] is False and "note" not in scores["fast"].details


def test_a_lower_bound_is_never_the_baseline():
    assert efficiency_baseline([stopped("naive")], None) is None
    base = efficiency_baseline([stopped("naive", spent_s=0.001), execution("slow")],
                               stopped("ref"))
    assert (base.source, base.sample_id) == ("best-sample", "slow")


def test_it_ranks_below_every_finished_sample_and_says_why():
    verdicts, _, _ = judge({"fast": (PROGRAMS["fast"], execution("fast")),
                            "slow": (PROGRAMS["slow"], execution("slow")),
                            # a bound below a finished sample's cost still ranks below it
                            "naive": (NAIVE, stopped("naive", spent_s=0.05))})
    order = [v.sample_id for v in sorted(verdicts, key=lambda v: v.rank)]
    assert order == ["fast", "slow", "naive"]
    last = max(verdicts, key=lambda v: v.rank)
    assert "ran past its budget" in last.explanation and "cost at least" in last.explanation


def test_its_pair_with_a_finished_sample_forms_with_the_margin_of_the_bound():
    _, pairs, _ = judge({"fast": (PROGRAMS["fast"], execution("fast")),
                         "naive": (NAIVE, stopped("naive"))})
    eff = [p for p in pairs if p.reason is PairReason.EFFICIENCY]
    assert [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id) for p in eff] \
        == [("fast", "naive")]
    assert eff[0].margin == pytest.approx((BUDGET_S + 0.4) / 0.010 - 1)
    # the stopped sample is never the chosen side of any pair
    assert "naive" not in {p.chosen_verdict.sample_id for p in pairs}


def test_two_lower_bounds_tie_and_make_no_efficiency_pair():
    runs = {"naive": (NAIVE, stopped("naive", spent_s=61.0)),
            "naive-2": (NAIVE_2, stopped("naive-2", spent_s=99.0))}
    verdicts, pairs, _ = judge(runs)
    assert all(v.scores["efficiency"].details["lower_bound"] for v in verdicts)
    assert not [p for p in pairs if p.reason is PairReason.EFFICIENCY]
    assert "ranks below every finished sample" not in max(verdicts, key=lambda v: v.rank).explanation
    # no finished baseline at all: the figure is unknown rather than invented
    verdicts, pairs, _ = judge(runs, reference=None)
    assert all(v.scores["efficiency"].status.value == "error" for v in verdicts)
    assert not [p for p in pairs if p.reason is PairReason.EFFICIENCY]


def test_lower_bound_survives_the_record_round_trip():
    e = stopped("naive")
    again = Execution.from_dict(e.to_dict())
    assert again == e and again.cost.lower_bound is True
    old = e.to_dict()
    del old["cost"]["lower_bound"]            # records written before the field existed
    assert Execution.from_dict(old).cost.lower_bound is False
    assert dataclasses.replace(e.cost, lower_bound=False) == Execution.from_dict(old).cost
