"""One definition per rule (honest pass, secure, insecure, tampered) and security as a hard
line in ranking and pairs, under every judge order."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from codealign.errors import SandboxUnavailable
from codealign.judges import judge_executions, judge_samples, judge_static, rules
from codealign.judges.pairs import PairConfig, PairReason
from codealign.judges.ranking import CRITERIA, JudgeConfig
from codealign.sandbox import SandboxConfig
from codealign.sandbox.execution import Execution, Flag, Status
from codealign.tasks.task import Task
from codealign.trainer.evaluate import Outcome, evaluate
from judge_fixtures import PROGRAMS, REFERENCE, TASK, execution, samples

DIAGNOSTIC = [f.text() for f in Flag if not f.tamper] + ["perf-error: ValueError: boom",
                                                          "perf-unavailable: the profiling run ended failed"]


@pytest.mark.parametrize("flag", DIAGNOSTIC)
def test_diagnostic_flags_are_not_tamper_evidence(flag):
    e = dataclasses.replace(execution("fast"), flags=(flag,))
    tamper = judge_static([PROGRAMS["fast"]], [e])[0]["tamper"]
    assert tamper.ok and tamper.value == 0.0
    assert rules.passed_honestly(e, tamper) and not rules.is_tampered(e, tamper)


@pytest.mark.parametrize("flag", [f.text() for f in Flag if f.tamper] + ["trace-changed"])
def test_tamper_flags_and_unknown_flags_make_a_sample_tampered(flag):
    e = dataclasses.replace(execution("fast"), flags=(flag,))
    tamper = judge_static([PROGRAMS["fast"]], [e])[0]["tamper"]
    assert tamper.value == 1.0 and rules.is_tampered(e, tamper) and not rules.passed_honestly(e, tamper)


def test_secure_insecure_unknown_are_one_rule():
    statics = judge_static([PROGRAMS["fast"], PROGRAMS["insecure"]])
    secure, insecure = statics[0]["security"], statics[1]["security"]
    assert rules.is_secure(secure) and not rules.is_insecure(secure)
    assert rules.is_insecure(insecure) and not rules.is_secure(insecure)
    for unknown in (None, dataclasses.replace(secure, value=None, status="error")):
        assert rules.security_class(unknown) is None
        assert not rules.is_secure(unknown) and not rules.is_insecure(unknown)


def _orders():
    for n in range(1, len(CRITERIA) + 1):
        yield from itertools.permutations(CRITERIA, n)


@pytest.mark.parametrize("order", list(_orders()), ids="-".join)
def test_security_is_a_hard_line_under_every_judge_order(order):
    """The insecure sample is the fastest and the most maintainable-looking: it still ranks
    below every secure passing sample, and a security pair forms."""
    names = ("fast", "slow", "insecure", "convoluted", "wrong")
    runs = [execution(n) for n in names]
    runs[2] = dataclasses.replace(runs[2], cost=dataclasses.replace(runs[2].cost, ops=10, perf_cpu_s=0.001))
    verdicts, pairs, _ = judge_executions([TASK], samples(names), runs, {TASK.task_id: REFERENCE},
                                          JudgeConfig(order=order), PairConfig(max_pairs_per_task=50))
    passing = sorted((v for v in verdicts if v.passed), key=lambda v: v.rank)
    assert passing[-1].sample_id == "insecure"
    assert all(v.secure is True for v in passing[:-1])
    assert "security is a hard line" in passing[-1].explanation
    security = [(p.chosen_verdict.sample_id, p.rejected_verdict.sample_id)
                for p in pairs if p.reason is PairReason.SECURITY]
    assert security and all(r == "insecure" for _, r in security)
    assert "insecure" not in {p.chosen_verdict.sample_id for p in pairs}


def test_security_pair_forms_even_when_the_secure_one_is_slower_and_margin_small():
    names = ("slow", "insecure")
    verdicts, pairs, _ = judge_executions([TASK], samples(names), [execution(n) for n in names],
                                          {}, JudgeConfig(), PairConfig(min_security_margin=100.0))
    assert [(p.reason, p.chosen_verdict.sample_id) for p in pairs] == [(PairReason.SECURITY, "slow")]


# chatty and slow correct samples, through the real sandbox ----------------------------------

SQUARE = Task(task_id="rules/square", prompt="def square(x):\n", entry_point="square",
              tests="assert square(2) == 4\nassert square(3) == 9\n",
              perf_inputs=("(3,)",), timeout_s=5.0, memory_mb=256)
CHATTY = "def square(x):\n    print('x' * 50000)\n    return x * x\n"
SLOW = ("def square(x):\n    import time\n    end = time.process_time() + 0.05\n"
        "    while time.process_time() < end:\n        pass\n    return x * x\n")


def test_chatty_and_slow_correct_samples_stay_honest_and_count_as_passes():
    from codealign.generator.sample import Sample

    subjects = [Sample(SQUARE.task_id, "chatty", CHATTY), Sample(SQUARE.task_id, "slow", SLOW)]
    # the profiling phase gets 1% of the task's timeout: the slow one's profile times out
    config = SandboxConfig(backend="bwrap", workers=1, perf_timeout_factor=0.01)
    try:
        verdicts, _, summary = judge_samples([SQUARE], subjects, config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    by_id = {v.sample_id: v for v in verdicts}
    assert Flag.STDOUT_TRUNCATED.value in by_id["chatty"].execution.flags
    assert any(Flag.parse(f) in (Flag.PERF_TIMEOUT, Flag.PERF_UNAVAILABLE, Flag.PERF_ERROR)
               for f in by_id["slow"].execution.flags), by_id["slow"].execution.flags
    assert by_id["chatty"].passed and by_id["slow"].passed and summary["tampered"] == 0
    # evaluation counts them as passes: pass@1 = 1
    outcomes = [Outcome(v.task_id, v.passed, v.secure) for v in verdicts]
    assert evaluate(outcomes, [1]).pass_at_1 == 1.0


def test_evaluation_secure_rule_is_the_judges_rule():
    from codealign.trainer.evaluate import is_secure

    findings = judge_static([PROGRAMS["insecure"]])[0]["security"].details["findings"]
    assert not is_secure(findings) and rules.has_insecure_finding(findings)
    assert is_secure([{"severity": "LOW"}])


def test_execution_status_tampered_is_tampered_whatever_the_judge_says():
    e = Execution("s", "t", Status.TAMPERED, 0, 3)
    clean = judge_static([PROGRAMS["fast"]])[0]["tamper"]
    assert clean.value == 0.0 and rules.is_tampered(e, clean)
