"""A clear speed-up is not vetoed by radon's index unless the faster code is hard to maintain.

Radon's maintainability index (MI) falls with Halstead volume and line count, so dense code
loses points however clear it is: a closed form scores below the triple loop it replaces. An
efficiency pair is vetoed on maintainability only when radon itself ranks the faster side hard
to maintain — MI rank C (below 10), or a block of cyclomatic complexity above 20 (rank D-F)
that the slower side does not have. Literal records; radon runs on the code.
"""

from __future__ import annotations

from codealign.generator.sample import Sample
from codealign.judges import judge_executions
from codealign.judges.pairs import Basis, NoPair, PairConfig, PairReason, why_no_pair
from codealign.sandbox.execution import Cost, Execution, Status
from codealign.tasks.task import Task

TASK = Task("mi/triples", "def triples(n):\n", "triples", "assert triples(5) == 1\n", prompt_style="code")
# the docstring a HumanEval prompt carries (12 lines): radon's index counts it against the
# shorter body (its comment term), as on ENAMEL's HumanEval/147
DOC = '    """Count the triples i < j < k of a[i] = i * i - i + 1 whose sum divides by 3.\n' + "".join(
    f"    Line {i} of the task's description and examples.\n" for i in range(12)) + '    """\n'
LOOP = ("def triples(n):\n" + DOC + "    a = [i * i - i + 1 for i in range(1, n + 1)]\n    count = 0\n"
        "    for i in range(n):\n        for j in range(i + 1, n):\n            for k in range(j + 1, n):\n"
        "                if (a[i] + a[j] + a[k]) % 3 == 0:\n                    count += 1\n"
        "    return count\n")
CLOSED_BODY = ("    c2 = 1 + (n - 2) // 3\n    c0 = n - c2\n"
               "    return c2 * (c2 - 1) * (c2 - 2) // 6 + c0 * (c0 - 1) * (c0 - 2) // 6\n")
CLOSED = "def triples(n):\n" + DOC + "    if n <= 2:\n        return 0\n" + CLOSED_BODY
# as fast as the closed form, with one block of 23 branches (cyclomatic complexity rank D)
BRANCHY = "def triples(n):\n" + DOC + "".join(
    f"    {'if' if i == 0 else 'elif'} n == {i}:\n        return {[0, 0, 0, 1, 1, 1][i] if i < 6 else -1}\n"
    for i in range(22)) + CLOSED_BODY
# as fast again, one block of no branch at all, and so long and dense that its MI is rank C
TANGLED = "def triples(n):\n" + DOC + "    t = n\n" + "".join(
    f"    t = (t * {k + 3} + n ** 2 - {k} * t // {k + 1}) % 1000003\n" for k in range(1000)) + \
    CLOSED_BODY.replace("// 6\n", "// 6 + t * 0\n")
RUNS = {"loop": (LOOP, 200_000, 0.050), "closed": (CLOSED, 4, 1.0e-6),
        "branchy": (BRANCHY, 24, 1.2e-6), "tangled": (TANGLED, 400, 2.0e-5)}


def judged(names):
    samples = [Sample(TASK.task_id, n, RUNS[n][0]) for n in names]
    runs = [Execution(n, TASK.task_id, Status.PASSED, 1, 1, cost=Cost(ops=RUNS[n][1], perf_cpu_s=RUNS[n][2]))
            for n in names]
    verdicts, pairs, _ = judge_executions([TASK], samples, runs, {},
                                          pair_config=PairConfig(reasons=(PairReason.EFFICIENCY,)))
    return {v.sample_id: v for v in verdicts}, [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id)
                                                for p in pairs]


def test_a_closed_form_beats_its_loop_although_radon_scores_it_lower():
    by_id, pairs = judged(("loop", "closed"))
    mi = {n: by_id[n].score("maintainability").value for n in by_id}
    assert mi["loop"] - mi["closed"] >= PairConfig().min_maintainability_margin   # the former veto
    assert mi["closed"] >= 20                                                       # radon rank A
    assert pairs == [("closed", "loop")]
    assert why_no_pair(PairReason.EFFICIENCY, by_id["closed"], by_id["loop"]) is None


def test_a_block_of_complexity_above_twenty_vetoes_the_speed_up():
    by_id, pairs = judged(("loop", "branchy"))
    assert by_id["branchy"].score("maintainability").details["cc_max"] > 20
    assert pairs == []
    assert why_no_pair(PairReason.EFFICIENCY, by_id["branchy"], by_id["loop"]) is NoPair.MAINTAINABILITY_REGRESSION


def test_maintainability_rank_c_vetoes_the_speed_up():
    by_id, pairs = judged(("loop", "tangled"))
    tangled = by_id["tangled"].score("maintainability")
    assert tangled.value < 10 and tangled.details["cc_max"] <= 20   # rank C by the index alone
    assert pairs == []
    assert why_no_pair(PairReason.EFFICIENCY, by_id["tangled"], by_id["loop"]) is NoPair.MAINTAINABILITY_REGRESSION


def test_the_other_rules_still_hold_for_maintainability_pairs():
    """The veto is relaxed for efficiency pairs only: a maintainability pair still needs its
    chosen side not to be clearly dearer."""
    by_id, _ = judged(("loop", "closed"))
    assert why_no_pair(PairReason.MAINTAINABILITY, by_id["loop"], by_id["closed"]) is NoPair.EFFICIENCY_REGRESSION
    assert why_no_pair(PairReason.EFFICIENCY, by_id["loop"], by_id["closed"]) is NoPair.MARGIN
    from codealign.judges.pairs import clearly_cheaper

    assert clearly_cheaper(by_id["closed"], by_id["loop"], PairConfig()).basis is Basis.OPS
