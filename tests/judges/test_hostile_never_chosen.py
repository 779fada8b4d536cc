"""No hostile sample of the sandbox suite is ever the chosen side of a pair.

Every sample of tests/sandbox/hostile.py (rendered with its host bait) is judged through
the real sandbox together with honest solutions of the same tasks (correct ones of
different quality, so that correctness and quality pairs are both built), with a loose
pair config that would pair anything it may.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from codealign.errors import SandboxUnavailable
from codealign.generator.sample import Sample
from codealign.judges import judge_samples
from codealign.judges.pairs import PairConfig

HOSTILE_FILE = Path(__file__).resolve().parents[1] / "sandbox" / "hostile.py"

HONEST = {
    "add": ["def add(a, b):\n    return a + b\n",
            "def add(a, b):\n    total = 0\n    for _ in range(abs(b)):\n"
            "        total += 1 if b > 0 else -1\n    return a + total\n",
            "def add(a, b):\n    return eval(str(a) + '+' + str(b))\n"],
    "square": ["def square(x):\n    return x * x\n",
               "def square(x):\n    r = 0\n    for _ in range(abs(x)):\n        r += abs(x)\n    return r\n"],
    "root": ["import math\n\ndef root(x):\n    return math.sqrt(x)\n",
             "def root(x):\n    return x ** 0.5\n"],
}


def _hostile_module():
    for name in ("sandbox.hostile", "tests.sandbox.hostile"):
        if name in sys.modules:
            return sys.modules[name]
    if not HOSTILE_FILE.exists():
        pytest.skip("tests/sandbox/hostile.py is not there")
    spec = importlib.util.spec_from_file_location("codealign_test_hostile", HOSTILE_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_hostile_samples_are_never_chosen():
    from codealign.sandbox import SandboxConfig

    hostile = _hostile_module()
    bait = hostile.HostBait()
    try:
        samples, hostile_ids = [], set()
        for h in hostile.HOSTILE:
            sid = f"hostile:{h.id}"
            samples.append(Sample(h.task.task_id, sid, bait.render(h)))
            hostile_ids.add(sid)
        tasks = {h.task.task_id: h.task for h in hostile.HOSTILE}
        for task in tasks.values():
            for i, code in enumerate(HONEST.get(task.entry_point, [])):
                samples.append(Sample(task.task_id, f"honest:{task.entry_point}:{i}", code))
        loose = PairConfig(max_pairs_per_task=1000, min_efficiency_margin=0.01,
                           min_security_margin=0.01, min_maintainability_margin=0.01)
        try:
            verdicts, pairs, summary = judge_samples(list(tasks.values()), samples,
                                                     SandboxConfig(backend="bwrap"),
                                                     pair_config=loose)
        except SandboxUnavailable as exc:
            pytest.skip(f"bwrap sandbox unavailable: {exc}")
    finally:
        bait.close()

    chosen = {p.chosen_verdict.sample_id for p in pairs}
    assert not chosen & hostile_ids, f"hostile samples chosen: {sorted(chosen & hostile_ids)}"
    # the test is not vacuous: hostile samples were paired as rejected, honest ones chosen
    rejected = {p.rejected_verdict.sample_id for p in pairs}
    assert rejected & hostile_ids and chosen
    by_id = {v.sample_id: v for v in verdicts}
    assert all(not by_id[sid].passed for sid in hostile_ids)
    honest_ranks = [v.rank for v in verdicts if v.sample_id.startswith("honest:") and v.passed]
    assert honest_ranks and all(r <= 3 for r in honest_ranks)
