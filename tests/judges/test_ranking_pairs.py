"""Ranking and pair construction as pure functions on literal executions."""

from __future__ import annotations

import dataclasses
import json

import pytest

from codealign.errors import ConfigError, InputError
from codealign.generator.sample import Sample, read_sample_lines
from codealign.judges import judge_executions
from codealign.judges.pairs import Basis, PairConfig, PairReason, build_pairs, code_key, completion_text
from codealign.judges.ranking import JudgeConfig, rank_verdicts
from codealign.judges.verdict import JudgeScore
from judge_fixtures import PROGRAMS, REFERENCE, TASK, executions, samples

ALL = tuple(PROGRAMS)


def judged(names=ALL, pair_config=PairConfig(max_pairs_per_task=50), judge_config=JudgeConfig()):
    return judge_executions([TASK], samples(names), executions(names),
                            {TASK.task_id: REFERENCE}, judge_config, pair_config)


def test_ranking_correctness_first_tampered_last():
    verdicts, _, _ = judged()
    order = [v.sample_id for v in sorted(verdicts, key=lambda v: v.rank)]
    honest_passing = {"fast", "fast-copy", "slow", "insecure", "convoluted"}
    assert set(order[:5]) == honest_passing
    # failing by fraction passed, then closeness to working code: failed > timeout > memory > error
    assert order[5:9] == ["wrong", "loops", "hog", "crash"]
    assert set(order[9:]) == {"exiter", "forger"}  # "forger" passed its tests but is tampered
    # insecure ranks below every secure passing sample, however fast it is
    assert order[0] in ("fast", "fast-copy") and order.index("slow") == 3 and order[4] == "insecure"


def test_ranking_explains_every_decision():
    verdicts, _, _ = judged()
    by_id = {v.sample_id: v for v in verdicts}
    assert "passed 3/3" in by_id["fast"].explanation and "ops" in by_id["fast"].explanation
    assert "better efficiency" in by_id["slow"].explanation
    assert "tampered (always-equal)" in by_id["forger"].explanation
    assert "below" in by_id["wrong"].explanation
    assert all(v.explanation.startswith(f"rank {v.rank}/") for v in verdicts)


def test_ranking_order_is_configurable():
    security_first = JudgeConfig(order=("security", "maintainability", "efficiency"))
    verdicts, _, _ = judged(judge_config=security_first)
    ranks = {v.sample_id: v.rank for v in verdicts}
    assert ranks["slow"] < ranks["convoluted"]  # maintainability now decides before efficiency
    default, _, _ = judged()
    assert {v.sample_id: v.rank for v in default}["convoluted"] < {v.sample_id: v.rank for v in default}["slow"]


def test_ranking_within_tolerance_is_a_tie():
    verdicts, _, _ = judged(("fast", "convoluted"),
                            judge_config=JudgeConfig(order=("efficiency",), efficiency_tolerance=0.10))
    # 10 ms vs 10.5 ms of CPU (120 vs 128 ops) is inside 10%: sample id decides, and the explanation says so
    assert [v.sample_id for v in sorted(verdicts, key=lambda v: v.rank)] == ["convoluted", "fast"]
    assert "tie within every tolerance" in max(verdicts, key=lambda v: v.rank).explanation


def test_pairs_reasons_margins_and_provenance():
    _, pairs, summary = judged()
    reasons = {p.reason for p in pairs}
    assert reasons == set(PairReason)
    for p in pairs:
        assert p.prompt == TASK.continuation_prompt and p.task_id == TASK.task_id
        assert p.margin >= PairConfig().min_margin(p.reason)
        assert p.prompt + p.chosen == p.chosen_verdict.code
        assert p.chosen_verdict.passed and not p.chosen_verdict.tampered
    eff = [p for p in pairs if p.reason is PairReason.EFFICIENCY]
    assert eff and all(p.rejected_verdict.sample_id == "slow" for p in eff)
    # decided on the op count (deterministic), the margin its ratio; "fast" over "slow" is a
    # maintainability pair too, and a static judge's pair keeps that judge's reason
    assert [(p.chosen_verdict.sample_id, p.basis) for p in eff] == [("convoluted", Basis.OPS)]
    assert eff[0].margin == pytest.approx(2400 / 128 - 1)
    assert ("fast", "slow", PairReason.MAINTAINABILITY) in {
        (p.chosen_verdict.sample_id, p.rejected_verdict.sample_id, p.reason) for p in pairs}
    sec = [p for p in pairs if p.reason is PairReason.SECURITY]
    assert sec and all(p.rejected_verdict.sample_id == "insecure" for p in sec)
    main = [p for p in pairs if p.reason is PairReason.MAINTAINABILITY]
    assert main and {p.rejected_verdict.sample_id for p in main} == {"convoluted", "slow"}
    assert summary["pairs_by_reason"] == {r.value: sum(p.reason is r for p in pairs)
                                          for r in PairReason}


def test_quality_pairs_need_a_clear_margin():
    # "fast" (120 ops) vs "convoluted" (128 ops): no efficiency pair, whatever else differs
    _, pairs, _ = judged(("fast", "convoluted"))
    assert [p.reason for p in pairs] == [PairReason.MAINTAINABILITY]
    _, none, _ = judged(("fast", "convoluted"), PairConfig(min_maintainability_margin=1000))
    assert none == []


def test_correctness_rejected_drawn_across_failure_modes():
    _, pairs, _ = judged(pair_config=PairConfig(max_pairs_per_task=50, reasons=("correctness",)))
    modes = [p.rejected_verdict.execution.status.value if not p.rejected_verdict.tampered
             else "tampered" for p in pairs]
    assert modes[:5] == ["failed", "error", "timeout", "memory", "tampered"]
    assert {p.rejected_verdict.sample_id for p in pairs} == {
        "wrong", "crash", "loops", "hog", "exiter", "forger"}
    # the chosen side is never the slow, insecure or convoluted sample
    assert {p.chosen_verdict.sample_id for p in pairs} <= {"fast", "fast-copy"}


def test_duplicates_and_ast_equivalents_count_once():
    assert code_key(PROGRAMS["fast"]) == code_key(PROGRAMS["fast-copy"])
    assert code_key(PROGRAMS["fast"]) != code_key(PROGRAMS["slow"])
    _, pairs, _ = judged()
    ids = {p.chosen_verdict.sample_id for p in pairs} | {p.rejected_verdict.sample_id for p in pairs}
    assert len(ids & {"fast", "fast-copy"}) == 1
    for p in pairs:
        assert code_key(p.chosen_verdict.code) != code_key(p.rejected_verdict.code)


def test_equal_programs_are_named_by_sample_id_not_by_measured_noise():
    # "fast-copy" measured faster this time: the two ranks swap, the pairs must not change
    runs = executions()
    for i, e in enumerate(runs):
        if e.sample_id in ("fast", "fast-copy"):
            faster = 0.005 if e.sample_id == "fast-copy" else 0.011
            runs[i] = dataclasses.replace(e, cost=dataclasses.replace(e.cost, perf_cpu_s=faster))
    verdicts, swapped, _ = judge_executions([TASK], samples(), runs, {TASK.task_id: REFERENCE},
                                            JudgeConfig(), PairConfig(max_pairs_per_task=50))
    ranks = {v.sample_id: v.rank for v in verdicts}
    assert ranks["fast-copy"] < ranks["fast"]
    _, usual, _ = judged()
    assert [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id, p.reason) for p in swapped] \
        == [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id, p.reason) for p in usual]
    assert "fast" in {p.chosen_verdict.sample_id for p in usual}


def test_cap_per_task_keeps_a_mix_of_reasons():
    _, pairs, _ = judged(pair_config=PairConfig(max_pairs_per_task=4))
    assert len(pairs) == 4 and {p.reason for p in pairs} == set(PairReason)


def test_pairs_are_deterministic_and_seeded():
    verdicts, first, _ = judged()
    ranked = rank_verdicts(verdicts)
    again = build_pairs(TASK, list(reversed(ranked)), PairConfig(max_pairs_per_task=50))
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    seeds = {tuple(p.rejected_verdict.sample_id for p in
                   build_pairs(TASK, ranked, PairConfig(seed=s, max_pairs_per_task=50)))
             for s in range(6)}
    assert all(len(s) == len(first) for s in seeds)


def test_judge_error_excludes_the_sample_from_that_reason_only():
    verdicts, _, _ = judged()
    broken = []
    for v in verdicts:
        if v.sample_id == "slow":
            scores = dict(v.scores, efficiency=JudgeScore.error("efficiency", "no ops"))
            v = dataclasses.replace(v, scores=scores)
        broken.append(v)
    pairs = build_pairs(TASK, rank_verdicts(broken), PairConfig(max_pairs_per_task=50))
    eff = [p for p in pairs if p.reason is PairReason.EFFICIENCY]
    assert all("slow" not in (p.chosen_verdict.sample_id, p.rejected_verdict.sample_id) for p in eff)
    assert any(p.chosen_verdict.sample_id == "slow" or p.rejected_verdict.sample_id == "slow"
               for p in pairs if p.reason is PairReason.MAINTAINABILITY)
    assert "efficiency unknown (judge error)" in {v.sample_id: v for v in rank_verdicts(broken)}["slow"].explanation


def test_tamper_judge_error_means_never_chosen():
    verdicts, _, _ = judged(("fast", "slow", "wrong"))
    broken = [dataclasses.replace(v, scores=dict(v.scores, tamper=JudgeScore.error("tamper", "x")))
              if v.sample_id == "fast" else v for v in verdicts]
    pairs = build_pairs(TASK, rank_verdicts(broken), PairConfig(max_pairs_per_task=50))
    assert pairs and all(p.chosen_verdict.sample_id != "fast" for p in pairs)


def test_no_passing_sample_no_pairs():
    _, pairs, summary = judged(("wrong", "crash", "forger"))
    assert pairs == [] and summary["passed_honestly"] == 0 and summary["tampered"] == 1


def test_completion_text_for_text_and_code_prompts():
    assert completion_text(TASK, PROGRAMS["fast"]) == "\n    return list(dict.fromkeys(xs))\n"
    text_task = dataclasses.replace(TASK, prompt_style="text", prompt="Write dedupe(xs).")
    assert completion_text(text_task, PROGRAMS["fast"]) == PROGRAMS["fast"]
    # a code sample that rewrote the prompt is kept whole rather than cut at a wrong place
    assert completion_text(TASK, "def dedupe(xs): return xs\n") == "def dedupe(xs): return xs\n"


def test_pairs_jsonl_lines_have_one_schema():
    _, pairs, _ = judged()
    keys = {json.dumps(sorted(p.to_dict())) for p in pairs}
    nested = {json.dumps(sorted(p.to_dict()["chosen_verdict"])) for p in pairs}
    assert len(keys) == 1 and len(nested) == 1


@pytest.mark.parametrize("bad", [dict(order=("speed",)), dict(efficiency_tolerance=0),
                                 dict(order="efficiency")])
def test_judge_config_validation(bad):
    with pytest.raises(ConfigError):
        JudgeConfig(**bad)


@pytest.mark.parametrize("bad", [dict(min_efficiency_margin=0), dict(max_pairs_per_task=0),
                                 dict(reasons=("style",)), dict(min_correctness_margin=2)])
def test_pair_config_validation(bad):
    with pytest.raises(ConfigError):
        PairConfig(**bad)


def test_read_sample_lines(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": TASK.task_id, "completion": "    return xs\n"}) + "\n"
                    + json.dumps({"task_id": TASK.task_id, "sample_id": "x", "code": "y = 1\n"}) + "\n")
    got = read_sample_lines(str(path), [TASK])
    assert got == [Sample(TASK.task_id, f"{TASK.task_id}#1", TASK.prompt + "    return xs\n",
                          completion="    return xs\n"),
                   Sample(TASK.task_id, "x", "y = 1\n")]
    for line, field in [({"task_id": "nope", "code": "x"}, "task_id"),
                        ({"task_id": TASK.task_id}, "code"),
                        ({"task_id": TASK.task_id, "code": 3}, "code"),
                        ({"task_id": TASK.task_id, "compltion": "x", "colour": 1}, "completion")]:
        path.write_text(json.dumps({"task_id": TASK.task_id, "code": "ok"}) + "\n"
                        + json.dumps(line) + "\n")
        with pytest.raises(InputError) as info:
            read_sample_lines(str(path), [TASK])
        assert info.value.line == 2 and info.value.field == field


def test_cpu_time_vetoes_an_efficiency_pair_it_contradicts():
    def efficiency(fast_cpu_s: float, config: PairConfig = PairConfig()):
        """("fast", "slow") with "fast" burning `fast_cpu_s` of CPU despite 20x fewer line events."""
        runs = executions(("fast", "slow"))
        runs[0] = dataclasses.replace(runs[0], cost=dataclasses.replace(runs[0].cost, perf_cpu_s=fast_cpu_s))
        _, pairs, _ = judge_executions([TASK], samples(("fast", "slow")), runs, {},
                                       JudgeConfig(), dataclasses.replace(config, reasons=("efficiency",)))
        return [(p.chosen_verdict.sample_id, p.basis) for p in pairs]

    assert efficiency(0.010) == [("fast", Basis.OPS)]       # CPU time agrees with the op count
    assert efficiency(0.3) == []                           # 1.5x the other way: no decision at all
    assert efficiency(0.3, PairConfig(efficiency_cpu_veto=100)) == [("fast", Basis.OPS)]
    # beyond the band, measured cost alone decides: work inside C builtins the count misses
    assert efficiency(0.9) == [("slow", Basis.CPU)]
    assert efficiency(0.9, PairConfig(efficiency_cpu_band=5)) == []


def test_insecure_code_is_never_chosen():
    _, pairs, _ = judged()
    assert pairs and "insecure" not in {p.chosen_verdict.sample_id for p in pairs}
    assert "insecure" in {p.rejected_verdict.sample_id for p in pairs if p.reason.value == "security"}


def test_a_task_whose_only_pass_is_insecure_gets_no_correctness_pair():
    """Better no pair than one that teaches the insecure answer as the right one."""
    _, pairs, _ = judged(names=("insecure", "wrong", "crash"))
    assert pairs == []
    _, pairs, _ = judged(names=("insecure", "fast", "wrong"))
    assert {(p.reason.value, p.chosen_verdict.sample_id) for p in pairs} >= {("correctness", "fast")}
    assert all(p.chosen_verdict.sample_id == "fast" for p in pairs)


def test_lost_sandbox_is_never_the_rejected_side_and_is_counted():
    # A sample lost with its Ray worker (an `infrastructure` error) beside a real crash: only
    # the real crash may be a correctness pair's rejected side.
    from codealign.sandbox.execution import Execution, Flag, Status

    names = ("fast", "crash")
    lost = Execution("lost", TASK.task_id, Status.ERROR, 0, 0, flags=(Flag.INFRASTRUCTURE.text(),))
    assert lost.infrastructure_error and not lost.sandbox_passed
    verdicts, pairs, summary = judge_executions(
        [TASK], samples(names) + [Sample(TASK.task_id, "lost", PROGRAMS["hog"])],
        executions(names) + [lost], {TASK.task_id: REFERENCE}, JudgeConfig(),
        PairConfig(max_pairs_per_task=50))
    rejected = {p.rejected_verdict.sample_id for p in pairs}
    assert "crash" in rejected and "lost" not in rejected
    assert summary["infrastructure_errors"] == 1
    assert not next(v for v in verdicts if v.sample_id == "lost").tampered
