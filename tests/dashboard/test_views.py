"""The dashboard's figures against the run reader, without a browser (synthetic run)."""

from __future__ import annotations

import json
import re

import pytest

from codealign.runs import RunReader
from codealign.service.dashboard.views import RunView, _diff, _histogram
from codealign.trainer.stats import delta_mean
from synthetic_run import synthesize_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return synthesize_run(tmp_path_factory.mktemp("views") / "syn", rounds=5, tasks=32, seed=3)


def rates(reader: RunReader, k: int, side: str = "heldout") -> dict[str, float]:
    return {r.task_id: r.passed / r.samples for r in reader.task_results(k) if r.side == side}


def test_overview_deltas_are_the_bootstrap_over_held_out_tasks(run):
    reader, view = RunReader(run), RunView(run)
    rows = view.overview["rows"]
    assert [row["record"] for row in rows] == reader.rounds()
    for row, record in zip(rows, reader.rounds()):
        assert row["pass_at_1"] == record.metrics.pass_at_1          # the record's own names
        assert row["pass_at_k"] == record.metrics.pass_at_k
        if record.round == 0:
            assert row["delta_prev"] is None and row["delta_base"] is None
            continue
        incumbent = record.gate.incumbent_round
        assert record.incumbent_round == incumbent
        assert row["delta_prev"] == delta_mean(rates(reader, incumbent), rates(reader, record.round)).to_dict() \
            | {"excludes_zero": row["delta_prev"]["excludes_zero"]}
        base = delta_mean(rates(reader, 0), rates(reader, record.round))
        assert (row["delta_base"]["value"], row["delta_base"]["low"], row["delta_base"]["high"]) == \
            (round(base.value, 6), round(base.low, 6), round(base.high, 6))
        # the task mean of the held-out pass rates is the evaluation's pass@1
        assert row["pass_at_1"] == pytest.approx(sum(rates(reader, record.round).values()) / len(rates(reader, record.round)))


def test_flips_partition_the_tasks_regressions_first(run):
    reader, view = RunReader(run), RunView(run)
    flips = view.flips(0, 5)
    assert list(flips["groups"]) == ["pass→fail", "fail→pass", "always pass", "never pass"]
    a, b = rates(reader, 0), rates(reader, 5)
    expected = {t: ("always pass" if a[t] and b[t] else "never pass" if not (a[t] or b[t])
                    else "fail→pass" if b[t] else "pass→fail") for t in a}
    got = {row["task_id"]: g for g, rows in flips["groups"].items() for row in rows if row["heldout"]}
    assert got == expected
    train_a, train_b = rates(reader, 1, "train"), rates(reader, 5, "train")
    train = view.flips(1, 5)
    assert sum(train["counts"].values()) == len(set(train_a) & set(train_b)) + len(a)


def test_matrix_delta_is_last_minus_first_known_rate(run):
    reader, view = RunReader(run), RunView(run)
    tasks = {t["task_id"]: t for t in view.matrix["tasks"]}
    split = reader.split()
    assert set(tasks) == set(split["train"]) | set(split["heldout"])
    held = split["heldout"][0]
    assert tasks[held]["heldout"] and tasks[held]["delta"] == pytest.approx(rates(reader, 5)[held] - rates(reader, 0)[held])
    trained = split["train"][0]
    assert tasks[trained]["cells"][0] is None        # round 0 samples no train task
    assert tasks[trained]["delta"] == pytest.approx(rates(reader, 5, "train")[trained] - rates(reader, 1, "train")[trained])


def test_quality_radon_equals_the_judges_verdicts(run):
    view = RunView(run)
    row = view.quality["rows"][2]
    verdicts = [json.loads(line) for line in (run / "round-2/judge/verdicts.jsonl").read_text().splitlines()]
    passing = [v for v in verdicts if v["execution"]["status"] == "passed"]
    from codealign.judges.complexity import judge_complexity

    expected = [judge_complexity(v["code"]).value for v in passing]
    assert row["maintainability"] == pytest.approx(sum(expected) / len(expected))
    assert view.quality["rows"][0]["maintainability"] is None        # round 0: no train samples


def test_quality_reads_the_recorded_radon_score_and_runs_radon_only_without_one(run, tmp_path):
    import shutil

    from codealign.judges.complexity import judge_complexity
    from codealign.jsonl import read_jsonl, write_jsonl

    copy = shutil.copytree(run, tmp_path / "syn")
    path = copy / "round-2/judge/verdicts.jsonl"
    verdicts = [d for _, d in read_jsonl(path)]
    passing = [v for v in verdicts if v["execution"]["status"] == "passed"]
    for v in verdicts:                          # what the judge stage recorded is what counts
        v["scores"]["maintainability"] |= {"value": 5.0}
    write_jsonl(path, verdicts)
    assert RunView(copy).quality["rows"][2]["maintainability"] == 5.0
    for v in verdicts:                          # a verdict without the score: radon runs here
        del v["scores"]["maintainability"]
    write_jsonl(path, verdicts)
    expected = [judge_complexity(v["code"]).value for v in passing]
    assert RunView(copy).quality["rows"][2]["maintainability"] == pytest.approx(sum(expected) / len(expected))


def test_dpo_health_flags_both_log_probabilities_falling(run):
    reader, view = RunReader(run), RunView(run)
    d = view.dpo(3)
    steps = reader.train_metrics(3)
    assert d["steps"] == [s["step"] for s in steps]
    assert d["series"][3]["values"] == [s["logps/chosen"] for s in steps]
    assert d["both_falling"]                  # the synthetic run lets both fall, step after step


def test_dpo_page_shows_the_rounds_allocation_and_training_set(run):
    reader, view = RunReader(run), RunView(run)
    s = view.dpo(3)["sampling"]
    record = reader.round(3)
    assert s["allocation"] == record.allocation and s["training"] == record.training_set
    assert s["tasks"] == list(reader.allocation(3).tasks)
    assert sum(t.samples for t in s["tasks"]) == record.samples == record.allocation.samples
    assert s["pairs_per_100"] == pytest.approx(100 * record.pairs / record.samples)
    assert [c.pair_id for c in s["dropped"]] == [c.pair_id for c in reader.replay_checks(3) if not c.kept]
    # round 1 was even (no history); later rounds follow what the round before saw
    assert set(reader.round(1).allocation.tasks_by_state) == {"new"}
    assert len(set(reader.round(3).allocation.tasks_by_state)) > 1


def test_dpo_page_shows_the_gates_per_tag_deltas(run):
    from codealign.trainer.gate import GateConfig, decide, read_outcomes

    reader, view = RunReader(run), RunView(run)
    g = view.dpo(3)["tags"]
    record = reader.round(3)
    assert g["incumbent"] == record.incumbent_round and g["rows"] == list(record.gate.decision.tags)
    assert {t.tag for t in g["rows"]} == {"level:easy", "level:hard", "group:0", "group:1", "group:2"}
    # the decision's figures are the gate's own on the two rounds' outcomes
    tags = {t.task_id: t.tags for t in reader.tasks()}
    again = decide(read_outcomes(run / "round-3/evaluate/outcomes.jsonl"),
                   read_outcomes(run / f"round-{g['incumbent']}/evaluate/outcomes.jsonl"),
                   GateConfig(objective="pass@1"), tags=tags, incumbent_round=g["incumbent"])
    assert again.tags == record.gate.decision.tags
    assert g["regressed"] == [t.tag for t in g["rows"] if t.regressed]


def test_both_falling_compares_the_first_and_last_quarter_of_the_steps(run, tmp_path):
    import shutil

    copy = shutil.copytree(run, tmp_path / "syn")
    path = copy / "round-3/train/metrics.jsonl"
    steps = [json.loads(line) for line in path.read_text().splitlines()]
    # one noisy last step below the start does not raise it: the chosen side rises overall
    for i, s in enumerate(steps):
        s["logps/chosen"] = -1.0 + 0.5 * i
    steps[-1]["logps/chosen"] = -2.0
    path.write_text("".join(json.dumps(s) + "\n" for s in steps))
    assert RunView(copy).dpo(3)["both_falling"] is False


def test_pairs_filters_histogram_and_diff(run):
    reader, view = RunReader(run), RunView(run)
    every = reader.pairs(2)
    shown = view.pairs(2, "correctness", None)
    assert len(shown["pairs"]) == len(reader.pairs(2, reason="correctness")) < len(every)
    assert list(shown["histograms"]) == ["correctness"]
    assert sum(shown["histograms"]["correctness"]["counts"]) == shown["total"] == len(shown["pairs"])
    task = every[0].task_id
    assert {p["pair"].task_id for p in view.pairs(2, None, task)["pairs"]} == {task}
    assert _histogram([1.0, 1.0, 3.0], bins=2) == {"edges": [1.0, 2.0], "counts": [2, 1]}
    assert ("add", "+    return a + b") in _diff("    return a - b\n", "    return a + b\n")
    assert ("del", "-    return a - b") in _diff("    return a - b\n", "    return a + b\n")


def test_report_is_one_self_contained_file(run, tmp_path):
    from codealign.report import write_report

    out = write_report(run, tmp_path / "r" / "report.html")
    html = out.read_text()
    assert "uPlot" in html and 'data-chart=' in html
    assert not re.search(r'<(script|link)[^>]+(src|href)="(?!data:)', html)     # nothing loaded from elsewhere
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html.replace(
        "https://github.com/leeoniya/uPlot", "")


def test_report_refuses_a_directory_that_is_not_a_run(tmp_path):
    from codealign.errors import InputError
    from codealign.report import write_report

    with pytest.raises(InputError, match="not a run directory"):
        write_report(tmp_path, tmp_path / "report.html")


def test_a_changed_run_is_read_again_but_unchanged_rounds_are_not(run, tmp_path):
    import os
    import shutil

    from codealign.service.dashboard.views import run_view

    copy = shutil.copytree(run, tmp_path / "syn")
    first = run_view(copy)
    _ = first.overview, first.quality                          # computed: kept in the view
    assert run_view(copy) is first                            # nothing changed: the same view
    lines = (copy / "rounds.jsonl").read_text().splitlines()
    changed = json.loads(lines[-1]) | {"reason": "edited"}
    (copy / "rounds.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(changed)]) + "\n")
    os.utime(copy / "rounds.jsonl", ns=(1, 1))
    second = run_view(copy)
    assert second is not first and second.rounds[-1].reason == "edited"
    assert set(second._results) == set(first._results) - {changed["round"]}
    assert second.overview["rows"][:-1] == first.overview["rows"][:-1]
    # rows of unchanged rounds are carried over, not computed again; the changed round's is new
    assert all(a is b for a, b in zip(second.overview["rows"][:-1], first.overview["rows"][:-1]))
    assert second.overview["rows"][-1]["record"].reason == "edited"
    assert second.quality["rows"][0] is first.quality["rows"][0]
    figures = [{k: v for k, v in row.items() if k != "record"} for row in
               (second.quality["rows"][-1], first.quality["rows"][-1])]
    assert figures[0] == figures[1]


def test_pairs_come_a_page_at_a_time(run):
    view = RunView(run)
    every = RunReader(run).pairs(2)
    first = view.pairs(2, None, None, start=0, limit=5)
    second = view.pairs(2, None, None, start=first["next"], limit=5)
    assert first["total"] == second["total"] == len(every)
    assert [p["pair"].chosen_id for p in first["pairs"] + second["pairs"]] == [p.chosen_id for p in every[:10]]
    assert sum(sum(h["counts"]) for h in first["histograms"].values()) == len(every)
    last = view.pairs(2, None, None, start=len(every) - 1, limit=5)
    assert last["next"] is None and len(last["pairs"]) == 1


def test_flips_compare_round_0_with_the_last_promoted_round_by_default(tmp_path):
    from codealign.records import last_promoted
    from codealign.report import write_report

    run = synthesize_run(tmp_path / "syn", rounds=5, tasks=16, seed=5)
    view = RunView(run)
    promoted = last_promoted(view.rounds)
    assert promoted is not None and promoted.round < view.rounds[-1].round     # the last round was rejected
    assert view.flip_rounds() == (0, promoted.round)
    html = write_report(run, tmp_path / "report.html").read_text()
    assert f'<section id="flips" data-a="0" data-b="{promoted.round}">' in html


def test_nothing_promoted_flips_show_the_last_round(run):
    view = RunView(run)
    assert all(r.status != "promoted" for r in view.rounds)                  # (this seed's run)
    assert view.flip_rounds() == (0, view.rounds[-1].round)


def test_quality_charts_costs_in_microseconds_with_distinct_ticks(run):
    chart = RunView(run).quality["charts"][1]
    [series] = chart["series"]
    rows = RunView(run).quality["rows"]
    assert series["label"] == "mean cost (µs)"
    assert series["values"] == [pytest.approx(r["mean_cost"] * 1e6) for r in rows]
    assert 1 < max(series["values"]) < 100                  # a few µs: not all "0.000"


def test_differential_failures_reach_the_task_results_and_the_task_page(run):
    """A sample that passed its task's tests but disagreed with the reference on a strengthened
    input carries the reason (input, both outputs) from its verdict to the per-task results
    (train side: verdicts.jsonl; held-out side: outcomes.jsonl) and to the task page."""
    from synthetic_run import DISAGREEMENT

    reader = RunReader(run)
    view = RunView(run)
    seen = {"train": 0, "heldout": 0}
    for k in (1, 2):
        for result in reader.task_results(k):
            samples = reader.samples(k, result.side, task_id=result.task_id)
            differential = [s for s in samples if s["failure"] and s["failure"]["differential"]]
            assert result.disagreed == len(differential)
            assert [d.sample_id for d in result.disagreements] == [s["sample_id"] for s in differential][:3]
            assert all((d.test, d.detail) == ("diff[0]", DISAGREEMENT) for d in result.disagreements)
            seen[result.side] += result.disagreed
            for s in samples:                   # a failure of the task's own test is no disagreement
                assert (s["failure"] is None) == (s["status"] == "passed")
    assert seen["train"] and seen["heldout"]
    task = next(r.task_id for r in reader.task_results(2) if r.disagreed)
    page = view.task(task)
    rows = [s for r in page["rounds"] if r["round"] == 2 for s in r["samples"]]
    assert any(s["failure"]["differential"] and s["failure"]["detail"] == DISAGREEMENT
               for s in rows if s["failure"])
