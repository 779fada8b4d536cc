"""A round's training set: replayed pairs mixed in by share, de-duplicated, excluded by id, and
re-checked in the real sandbox (a pair whose chosen side fails today's tests is dropped)."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

from codealign.errors import ConfigError, SandboxUnavailable
from codealign.judges.pairs import PairFault, pair_id
from codealign.records import PairOrigin, PairRow, PairVerdict, TrainingPair
from codealign.runs import trainset
from codealign.runs.trainset import Candidate, ReplayConfig, ReplayFault, build_training_set, revalidate
from codealign.tasks.task import Task


def test_doctests():
    assert doctest.testmod(trainset).failed == 0


def _side(sample_id: str) -> PairVerdict:
    return PairVerdict(sample_id=sample_id, status="passed", tests_passed=1, tests_total=1, rank=1, tampered=False,
                       efficiency=None, ops=None, perf_cpu_s=None, security=None, maintainability=None,
                       explanation="")


def candidate(task: str, chosen: str, rejected: str, run: str = "r", round_no: int = 1, reason: str = "correctness",
              prompt: str | None = None) -> Candidate:
    prompt = prompt if prompt is not None else f"def {task}(x):"
    row = PairRow(prompt=prompt, chosen=chosen, rejected=rejected, task_id=task, reason=reason, margin=1.0,
                  chosen_id=f"{task}#c{chosen!r}", rejected_id=f"{task}#r{rejected!r}",
                  chosen_verdict=_side("c"), rejected_verdict=_side("r"))
    return Candidate(row, PairOrigin(run=run, round=round_no), prompt + chosen, prompt + rejected)


def accept_all(calls):
    def check(cands):
        calls.append([c.pair.id for c in cands])
        return [(None, "") for _ in cands]
    return check


def test_share_dedup_provenance_and_order():
    new = [candidate("a", f"\n    return {i}\n", "\n    return -1\n", round_no=3) for i in range(4)]
    earlier = [candidate("b", f"\n    return {i}\n", "\n    return None\n") for i in range(10)]
    earlier += [new[0]]                                           # the round's own pair, made before too
    earlier += [candidate("b", "\n    return 0  # same program\n", "\n    return None\n", round_no=2)]
    calls: list = []
    ts = build_training_set(new, earlier, ReplayConfig(share=0.5), accept_all(calls))
    assert [p.replayed for p in ts.pairs] == [False] * 4 + [True] * 4
    assert {p.origin.round for p in ts.pairs[:4]} == {3} and {p.origin.round for p in ts.pairs[4:]} == {1}
    assert all(isinstance(p, TrainingPair) and p.pair_id == pair_id(p.prompt, p.chosen, p.rejected) for p in ts.pairs)
    s = ts.summary
    assert (s.new, s.replayed, s.available, s.checked) == (4, 4, 10, 8)   # chunk of max(8, 2 x 4)
    assert s.replayed_by_origin == {"r/round-1": 4} and s.dropped_by_fault == {}
    assert [c.kept for c in ts.checks] == [True] * 4 + [False] * 4
    assert all(c.detail == "holds; the share was already full" for c in ts.checks[4:])
    # the same pool (in any order), the same choice; another seed, another order
    again = build_training_set(new, list(reversed(earlier[:10])), ReplayConfig(share=0.5), accept_all([]))
    assert [p.pair_id for p in again.pairs] == [p.pair_id for p in ts.pairs]
    other = build_training_set(new, earlier, ReplayConfig(share=0.5, seed=1), accept_all([]))
    assert [p.pair_id for p in other.pairs] != [p.pair_id for p in ts.pairs]
    assert build_training_set(new, earlier, ReplayConfig(), accept_all(calls := [])).summary.replayed == 0
    assert calls == []                                            # share 0: nothing is even checked


def test_dropped_pairs_are_replaced_by_the_next_ones_and_exclusion_is_one_filter():
    new = [candidate("a", f"\n    return {i}\n", "\n    return -1\n", round_no=2) for i in range(2)]
    earlier = [candidate("b", f"\n    return {i}\n", "\n    return None\n") for i in range(30)]
    bad = {c.pair.id for c in earlier[::2]}

    def check(cands):
        return [(PairFault.CHOSEN_FAILS.value, "now: chosen failed") if c.pair.id in bad else (None, "")
                for c in cands]

    ts = build_training_set(new, earlier, ReplayConfig(share=0.8), check)     # quota 8
    assert ts.summary.replayed == 8 and not {p.pair_id for p in ts.pairs} & bad
    assert ts.summary.dropped_by_fault == {"chosen-fails": sum(c.fault is not None for c in ts.checks)}
    assert ts.summary.checked > 8  # the dropped ones were replaced by the next in order
    excluded = {new[0].pair.id, ts.pairs[2].pair_id}
    cut = build_training_set(new, earlier, ReplayConfig(share=0.8), check, excluded=excluded)
    assert not {p.pair_id for p in cut.pairs} & excluded and cut.summary.new == 1
    assert cut.summary.replayed == 4 and cut.summary.excluded == 2         # quota 0.8 / 0.2 x 1


@pytest.mark.parametrize("share", [-0.1, 1.0, "half"])
def test_share_must_be_in_zero_one(share):
    with pytest.raises(ConfigError) as info:
        ReplayConfig(share=share)
    assert info.value.field == "share"


# ---------------------------------------------------------------------------------------------
# The re-check in the real sandbox

NEG_TESTS = "assert neg(3) == -3\nassert neg(-2) == 2\n"
NEG = Task("neg", 'def neg(x):\n    """Minus x."""', "neg", NEG_TESTS, prompt_style="code",
           reference='def neg(x):\n    """Minus x."""\n    return -x\n')
# Strengthened: -0.0 must stay negative zero, which `0 - x` gets wrong.
NEG_STRONG = dataclasses.replace(NEG, tests=NEG_TESTS + 'assert str(neg(0.0)) == "-0.0"\n')


def _execute(tasks):
    def execute(samples):
        from codealign.judges import reference_id
        from codealign.sandbox import Job, SandboxConfig, run_many

        jobs = [Job(s.sample_id, tasks[s.task_id], s.code, profile=True) for s in samples]
        refs = [tasks[t] for t in dict.fromkeys(s.task_id for s in samples) if tasks[t].reference]
        jobs += [Job(reference_id(t), t, t.reference, profile=True) for t in refs]
        try:
            results = run_many(jobs, SandboxConfig(backend="bwrap", workers=1))
        except SandboxUnavailable as exc:
            pytest.skip(f"bwrap sandbox unavailable: {exc}")
        return results[:len(samples)], results[len(samples):]
    return execute


def neg_pair(chosen: str, rejected: str, reason: str = "correctness", task: Task = NEG) -> Candidate:
    prompt = task.continuation_prompt
    return candidate("neg", chosen, rejected, reason=reason, prompt=prompt)


def test_replayed_pairs_are_re_executed_and_a_pair_todays_rules_reject_is_dropped():
    from codealign.judges import JudgeConfig
    from codealign.judges.pairs import PairConfig

    good = neg_pair("\n    return -x\n", "\n    return x\n")
    zero_minus = neg_pair("\n    return 0 - x\n", "\n    return x\n")
    insecure = neg_pair("\n    return eval('-' + repr(x))\n", "\n    return x\n")
    security = neg_pair("\n    return -x\n", "\n    return eval('-' + repr(x))\n", reason="security")
    now_passes = neg_pair("\n    return -x\n", "\n    return 0 - x\n")     # its "wrong" side passes the old tests
    other = candidate("gone", "\n    return 1\n", "\n    return 2\n")
    cands = [good, zero_minus, insecure, security, now_passes, other]
    judges, pairs = JudgeConfig(), PairConfig()

    old = revalidate(cands, {"neg": NEG}, {"neg"}, _execute({"neg": NEG}), judges, pairs)
    assert [f for f, _ in old] == [None, None, PairFault.CHOSEN_INSECURE.value, None,
                                   PairFault.REJECTED_PASSES.value, ReplayFault.TASK_GONE.value]
    strong = revalidate(cands, {"neg": NEG_STRONG}, {"neg"}, _execute({"neg": NEG_STRONG}), judges, pairs)
    faults = [f for f, _ in strong]
    assert faults[1] == PairFault.CHOSEN_FAILS.value and "chosen failed" in strong[1][1]
    assert faults[0] is None and faults[3] is None                     # -x still passes; eval still insecure
    assert faults[4] is None                                           # now `0 - x` fails: a fine pair
    # held out (not a train task here), a changed prompt, a reason the recipe does not draw
    assert revalidate([good], {"neg": NEG}, set(), _execute({"neg": NEG}), judges, pairs)[0][0] == "task-gone"
    moved = dataclasses.replace(NEG, prompt='def neg(x):\n    """Negate x."""')
    assert revalidate([good], {"neg": moved}, {"neg"}, _execute({"neg": moved}), judges, pairs)[0][0] == \
        "prompt-changed"
    no_security = PairConfig(reasons=("correctness",))
    assert revalidate([security], {"neg": NEG}, {"neg"}, _execute({"neg": NEG}), judges, no_security)[0][0] == \
        "reason-off"

    # In a training set: whatever is replayed holds under today's rules.
    def check(batch):
        return revalidate(batch, {"neg": NEG_STRONG}, {"neg"}, _execute({"neg": NEG_STRONG}), judges, pairs)

    new = [neg_pair("\n    return -1 * x\n", "\n    return x + 1\n")]
    ts = build_training_set(new, cands, ReplayConfig(share=0.9), check)
    kept = {p.pair_id for p in ts.pairs if p.replayed}
    assert kept == {good.pair.id, security.pair.id, now_passes.pair.id}
    assert ts.summary.dropped_by_fault == {"chosen-fails": 1, "chosen-insecure": 1, "task-gone": 1}
