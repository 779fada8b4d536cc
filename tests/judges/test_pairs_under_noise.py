"""Pairs do not move with CPU-time noise (issue 21, item 6), on literal records.

Each case below is one that flipped between two runs of the demo loop in two folders when
pairs read measured CPU time at fixed thresholds (a cost ratio of 1.5, a CPU veto of 1.25,
ranking buckets of 10%): the same samples got an efficiency pair in one run and a security
pair in the other, or a maintainability pair appeared in one run only. Here every CPU reading
(samples and references) is multiplied by its own factor drawn from [0.7, 1.3], for many
seeds: the ranks move (they follow measured cost), the pairs — which ones, their reasons,
their order, the chosen and rejected sides, their margins — do not. What CPU time is for
stays: C-level work the op count misses (list membership against a set) still decides a
pair, on the ``cpu`` basis.

No rule that reads a measurement is stable for every value: these pairs hold under ±30% (a
factor of up to 1.3/0.7 = 1.86 between two readings) because no cost ratio in them lies within
that factor of a boundary of `codealign.judges.pairs.clearly_cheaper` (1 where the op count
decides, the band where measured cost alone does) — as in the demo's rounds, where no
comparison that decides a pair does (see docs/judges.md).
"""

from __future__ import annotations

import dataclasses
import random

import pytest

import codealign.judges as judges
from codealign.generator.sample import Sample
from codealign.judges import judge_executions
from codealign.judges.pairs import Basis, PairConfig, PairReason
from codealign.judges.ranking import JudgeConfig
from codealign.sandbox.execution import Cost, Execution, Status
from codealign.tasks.task import Task, reference_id
from judge_fixtures import PROGRAMS as DEDUPE, TASK as DEDUPE_TASK

DIGEST = Task("noise/digest", "import hashlib\n\ndef digest(text):\n", "digest",
              "assert digest('a') == digest('a')\n", prompt_style="code",
              reference="import hashlib\n\ndef digest(text):\n    return hashlib.sha256(text.encode()).hexdigest()\n")
SPELL = Task("noise/spell", "def spell(ns):\n", "spell", "assert spell([1, 2]) == '1 2'\n",
             prompt_style="code", reference="def spell(ns):\n    return ' '.join(map(str, ns))\n")

# (task, code, status, ops, CPU seconds, lower bound); the CPU readings are the demo's kind
CASES = {
    # dedupe: the op count sees most differences; "set-seen" executes more line events than
    # "slow" and is 40x cheaper (slow's `x not in out` scans a list inside C)
    "fast": (DEDUPE_TASK, DEDUPE["fast"], Status.PASSED, 120, 0.010, False),
    "fast-copy": (DEDUPE_TASK, DEDUPE["fast-copy"], Status.PASSED, 120, 0.011, False),
    "convoluted": (DEDUPE_TASK, DEDUPE["convoluted"], Status.PASSED, 128, 0.0105, False),
    "slow": (DEDUPE_TASK, DEDUPE["slow"], Status.PASSED, 2400, 0.200, False),
    "set-seen": (DEDUPE_TASK, DEDUPE_TASK.prompt + (
        "    seen = set()\n    out = []\n    for x in xs:\n        if x not in seen:\n"
        "            seen.add(x)\n            out.append(x)\n    return out\n"),
        Status.PASSED, 4200, 0.005, False),
    "insecure": (DEDUPE_TASK, DEDUPE["insecure"], Status.PASSED, 130, 0.012, False),
    "naive": (DEDUPE_TASK, DEDUPE_TASK.prompt + (
        "    out = []\n    for i, x in enumerate(xs):\n        if all(x != y for y in xs[:i]):\n"
        "            out.append(x)\n    return out\n"), Status.PASSED, 987_654, 60.4, True),
    "wrong": (DEDUPE_TASK, DEDUPE["wrong"], Status.FAILED, None, None, False),
    "crash": (DEDUPE_TASK, DEDUPE["crash"], Status.ERROR, None, None, False),
    # digest: one line each, microseconds of C: sha256 1.6x cheaper than md5 in this run
    # (an efficiency pair in one run, a security pair in the next, before)
    "sha": (DIGEST, DIGEST.reference, Status.PASSED, 1, 2.0e-6, False),
    "sha-2": (DIGEST, "import hashlib\n\ndef digest(text):\n    data = text.encode()\n"
                      "    return hashlib.sha256(data).hexdigest()\n", Status.PASSED, 2, 2.6e-6, False),
    "md5": (DIGEST, "import hashlib\n\ndef digest(text):\n    return hashlib.md5(text.encode()).hexdigest()\n",
            Status.PASSED, 1, 3.3e-6, False),
    "digest-wrong": (DIGEST, "import hashlib\n\ndef digest(text):\n    return text\n",
                     Status.FAILED, None, None, False),
    # spell: 40,003 line events against one, yet 1.3x cheaper by CPU (the readings disagree:
    # no efficiency decision; the maintainability pair stands, in every run)
    "join": (SPELL, SPELL.reference, Status.PASSED, 1, 2.0e-3, False),
    "loop": (SPELL, "def spell(ns):\n    out = ''\n    first = True\n    for n in ns:\n"
                    "        if first:\n            out += str(n)\n            first = False\n"
                    "        else:\n            out += ' ' + str(n)\n    return out\n",
             Status.PASSED, 40_003, 1.5e-3, False),
    "spell-crash": (SPELL, "def spell(ns):\n    return ns[\n", Status.ERROR, None, None, False),
}
REFERENCES = {DEDUPE_TASK.task_id: (100, 0.009), DIGEST.task_id: (1, 2.1e-6), SPELL.task_id: (1, 2.1e-3)}
TASKS = [DEDUPE_TASK, DIGEST, SPELL]
CONFIG = PairConfig(max_pairs_per_task=50)


def _execution(sample_id: str, task_id: str, status: Status, ops, cpu, bound: bool) -> Execution:
    return Execution(sample_id, task_id, status, 3 if status is Status.PASSED else 1, 3,
                     cost=Cost(cpu_s=0.02, peak_kb=9000, wall_s=0.05, ops=ops, perf_cpu_s=cpu,
                               lower_bound=bound), backend="literal")


def judged(rng: random.Random | None = None, config: PairConfig = CONFIG):
    """Verdicts and pairs of the cases, every CPU reading scaled by a factor from [0.7, 1.3]."""
    def noisy(cpu):
        return None if cpu is None or rng is None else cpu * rng.uniform(0.7, 1.3)

    samples = [Sample(task.task_id, sid, code) for sid, (task, code, *_) in CASES.items()]
    runs = [_execution(sid, task.task_id, status, ops, noisy(cpu) or cpu, bound)
            for sid, (task, _, status, ops, cpu, bound) in CASES.items()]
    references = {t: _execution(reference_id(next(x for x in TASKS if x.task_id == t)), t, Status.PASSED,
                                ops, noisy(cpu) or cpu, False)
                  for t, (ops, cpu) in REFERENCES.items()}
    return judge_executions(TASKS, samples, runs, references, JudgeConfig(), config)


def _decisions(pairs) -> list[tuple]:
    return [(p.task_id, p.reason.value, p.chosen_verdict.sample_id, p.rejected_verdict.sample_id,
             round(p.margin, 9), p.basis) for p in pairs]


@pytest.fixture(autouse=True)
def static_once(monkeypatch):
    """bandit and radon once per program: only the CPU readings change between draws."""
    cache: dict = {}
    real = judges.judge_static

    def judge_static(codes, executions=None, config=JudgeConfig()):
        key = (tuple(codes), tuple(e.flags for e in executions or ()), config)
        if key not in cache:
            cache[key] = real(codes, executions, config)
        return cache[key]

    monkeypatch.setattr(judges, "judge_static", judge_static)


def test_pairs_are_identical_under_thirty_percent_cpu_noise():
    verdicts, pairs, _ = judged()
    expected = _decisions(pairs)
    ranks = {v.sample_id: v.rank for v in verdicts}
    moved = 0
    for seed in range(200):
        noisy_verdicts, noisy_pairs, _ = judged(random.Random(seed))
        assert _decisions(noisy_pairs) == expected, f"seed {seed}"
        assert [p.to_dict()["chosen"] for p in noisy_pairs] == [p.chosen for p in pairs]
        moved += {v.sample_id: v.rank for v in noisy_verdicts} != ranks
    assert moved > 50, "the noise should move the ranks, or this test shows nothing"


def test_the_stable_pairs_keep_what_cpu_time_is_for():
    _, pairs, _ = judged()
    got = {(p.reason, p.chosen_verdict.sample_id, p.rejected_verdict.sample_id): p for p in pairs}
    # C-level work: list membership loses to a set on measured cost alone, beyond the band
    cpu = got[(PairReason.EFFICIENCY, "set-seen", "slow")]
    assert cpu.basis is Basis.CPU and cpu.margin == CONFIG.efficiency_cpu_band - 1
    # the op count decides where it sees the difference, CPU time agreeing
    ops = got[(PairReason.EFFICIENCY, "convoluted", "slow")]
    assert ops.basis is Basis.OPS and ops.margin == pytest.approx(2400 / 128 - 1)
    assert (PairReason.EFFICIENCY, "fast", "naive") in got or (PairReason.MAINTAINABILITY, "fast", "naive") in got
    # sha256 over md5 is a security pair, never an efficiency pair, whatever the CPU says
    assert (PairReason.SECURITY, "sha", "md5") in got
    assert not any(p.reason is PairReason.EFFICIENCY and p.task_id == DIGEST.task_id for p in pairs)
    # 40,003 line events against one but cheaper by CPU: no efficiency decision either way,
    # so the maintainability pair forms
    assert (PairReason.MAINTAINABILITY, "join", "loop") in got
    assert not any(p.reason is PairReason.EFFICIENCY and p.task_id == SPELL.task_id for p in pairs)
    # correctness pairs for every task, the chosen side one that nothing beats
    chosen = {p.task_id: p.chosen_verdict.sample_id for p in pairs if p.reason is PairReason.CORRECTNESS}
    assert chosen == {DEDUPE_TASK.task_id: "fast", DIGEST.task_id: "sha", SPELL.task_id: "join"}


def test_the_old_thresholds_on_measured_cost_would_flip():
    """The same draws, read with fixed thresholds on measured cost (ratio >= 1.5, as the
    ranking and the pair rules did): they cross in some draws, so the test above would fail
    on rules that decide on CPU time near a boundary."""
    def crossings(a: str, b: str) -> set[bool]:
        seen = set()
        for seed in range(200):
            by_id = {v.sample_id: v for v in judged(random.Random(seed))[0]}
            cost = lambda sid: by_id[sid].score("efficiency").details["cost_s"]  # noqa: E731
            seen.add(cost(b) / cost(a) >= 1.5)
        return seen

    assert crossings("sha", "md5") == {True, False}
    assert crossings("loop", "join") == {True, False}


def test_the_band_is_a_config_field_and_validated():
    from codealign.errors import ConfigError

    _, pairs, _ = judged(config=dataclasses.replace(CONFIG, efficiency_cpu_band=50.0))
    assert not any(p.basis is Basis.CPU for p in pairs)     # 33x is inside a band of 50x
    with pytest.raises(ConfigError) as info:
        PairConfig(efficiency_cpu_band=1.2)
    assert info.value.field == "efficiency_cpu_band"
