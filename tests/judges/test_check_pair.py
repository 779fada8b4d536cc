"""`check_pair`, the pair rules one pair at a time (what a replayed pair is re-checked with), on
literal executions: every pair `build_pairs` makes passes it; each rule is named when broken."""

from __future__ import annotations

from codealign.judges import judge_executions
from codealign.judges.pairs import PairConfig, PairFault, PairReason, check_pair, pair_id
from codealign.judges.ranking import JudgeConfig
from codealign.records import PairRow
from judge_fixtures import PROGRAMS, REFERENCE, TASK, executions, samples

ALL = tuple(PROGRAMS)


def _judged(config: PairConfig = PairConfig(max_pairs_per_task=50)):
    verdicts, pairs, _ = judge_executions([TASK], samples(ALL), executions(ALL), {TASK.task_id: REFERENCE},
                                          JudgeConfig(), config)
    return {v.sample_id: v for v in verdicts}, pairs


def test_every_pair_build_pairs_makes_passes_the_check():
    _, pairs = _judged()
    assert {p.reason for p in pairs} >= {PairReason.CORRECTNESS, PairReason.SECURITY, PairReason.EFFICIENCY}
    for p in pairs:
        assert check_pair(p.reason, p.chosen_verdict, p.rejected_verdict, PairConfig()) is None, p.reason


def test_each_broken_rule_is_named():
    v, _ = _judged()
    config = PairConfig()
    assert check_pair(PairReason.CORRECTNESS, v["wrong"], v["fast"], config) is PairFault.CHOSEN_FAILS
    assert check_pair(PairReason.CORRECTNESS, v["forger"], v["wrong"], config) is PairFault.CHOSEN_FAILS  # tampered
    assert check_pair(PairReason.CORRECTNESS, v["insecure"], v["wrong"], config) is PairFault.CHOSEN_INSECURE
    assert check_pair(PairReason.CORRECTNESS, v["fast"], v["slow"], config) is PairFault.REJECTED_PASSES
    assert check_pair(PairReason.EFFICIENCY, v["fast"], v["wrong"], config) is PairFault.REJECTED_FAILS
    assert check_pair(PairReason.EFFICIENCY, v["slow"], v["fast"], config) is PairFault.NO_MARGIN
    assert check_pair(PairReason.EFFICIENCY, v["fast"], v["slow"], config) is None
    assert check_pair(PairReason.SECURITY, v["fast"], v["insecure"], config) is None      # the hard line
    assert check_pair(PairReason.CORRECTNESS, v["fast"], v["wrong"], PairConfig(reasons=("security",))) is \
        PairFault.REASON_OFF


def test_a_pair_line_carries_its_stable_id():
    _, pairs = _judged()
    for p in pairs:
        line = p.to_dict()
        assert line["pair_id"] == pair_id(line["prompt"], line["chosen"], line["rejected"]) == p.pair_id
        row = PairRow.from_dict(line)
        assert row.id == p.pair_id
        assert PairRow.from_dict({k: v for k, v in line.items() if k != "pair_id"}).id == p.pair_id
