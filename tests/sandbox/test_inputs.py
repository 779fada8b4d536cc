"""Input synthesis: decided by operation counts (so two machines keep the same inputs),
cached by content only, and written as one artifact."""

from __future__ import annotations

import pytest

from codealign.errors import InputError, SandboxUnavailable
from codealign.sandbox import SandboxConfig
from codealign.sandbox.inputs import InputSet, PerfInputs, TaskInputs, synthesise_inputs
from codealign.sandbox.perfinputs import BUDGET_OPS, candidates, choose
from codealign.sandbox.wire import ProbeReply
from codealign.tasks.task import Task

PAIRS = Task(task_id="in/pairs", prompt="def pair_sum(xs):\n", entry_point="pair_sum",
             tests="assert pair_sum([1, 2, 3, 4, 5]) == 225\nassert pair_sum([]) == 0\n",
             reference="def pair_sum(xs):\n    s = 0\n    for a in xs:\n        for b in xs:\n"
                       "            s += a * b\n    return s\n")


def _synthesise(tmp_path, name: str = "cache") -> PerfInputs:
    try:
        return synthesise_inputs([PAIRS], SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path / name)))\
            .tasks[PAIRS.task_id].perf
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


def test_perf_inputs_are_the_largest_within_the_operation_budget(tmp_path):
    found = _synthesise(tmp_path)
    sources, _ = candidates(PAIRS)
    # ×10 (50 elements: ~2 x 2,500 line events) fits the budget, ×100 (~500,000) does not
    assert found.inputs and all(len(eval(src)[0]) == 50 for src in found.inputs)
    assert any(len(eval(src)[0]) == 500 for src in sources)
    assert found.source == "reference" and found.probed > 0
    # A fresh cache (another machine) derives exactly the same inputs: nothing timed decides.
    assert _synthesise(tmp_path, "elsewhere") == found


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path, caplog):
    """A read-only home (the service image's) must not stop synthesis: the cache is a cache."""
    (tmp_path / "file").write_text("not a directory")
    found = _synthesise(tmp_path, "file/cache")
    assert found.inputs and found == _synthesise(tmp_path)
    assert "not written" in caplog.text


def test_the_choice_reads_counts_and_digests_only():
    sources, groups = ["(1,)", "(2,)", "(3,)"], [0, 0, 0]
    replies = [ProbeReply(0, True, ops=10, digest="a"), ProbeReply(1, True, ops=BUDGET_OPS, digest="b"),
               ProbeReply(2, False, ops=BUDGET_OPS + 1, over_budget=True)]
    assert choose(PAIRS, sources, groups, [replies]).perf_inputs == ("(2,)",)
    # two voters out of three disagree on input 1: only input 0 has a majority
    other = [ProbeReply(0, True, ops=12, digest="a"), ProbeReply(1, True, ops=9, digest="c")]
    third = [ProbeReply(0, True, ops=11, digest="a"), ProbeReply(1, True, ops=9, digest="d")]
    assert choose(PAIRS, sources, groups, [replies, other, third]).perf_inputs == ("(1,)",)


def test_the_artifact_round_trips_and_refuses_another_version(tmp_path):
    inputs = InputSet({"t": TaskInputs("t", PerfInputs(("(1,)",), "reference", 3, "", "k"))})
    inputs.write(tmp_path / "inputs.json")
    assert InputSet.read(tmp_path / "inputs.json") == inputs
    (tmp_path / "old.json").write_text('{"version": 0, "tasks": []}')
    with pytest.raises(InputError, match="version"):
        InputSet.read(tmp_path / "old.json")


class _Lost:
    """An executor whose every probe was lost (a Ray worker that died twice)."""

    def __init__(self) -> None:
        self.asked = 0

    def run(self, items, on_result=None, cancel=None):
        from codealign.sandbox.work import ProbeResult

        self.asked += len(items)
        return [ProbeResult(error="infrastructure: lost", transient=True) for _ in items]


def test_a_lost_probe_is_not_cached(tmp_path):
    config = SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path))
    lost = _Lost()
    first = synthesise_inputs([PAIRS], config, executor=lost).tasks[PAIRS.task_id]
    assert not first.perf.inputs and "infrastructure" in first.perf.why and not first.diff.cases
    asked = lost.asked
    synthesise_inputs([PAIRS], config, executor=lost)
    assert asked > 0 and lost.asked == 2 * asked           # asked again: nothing was kept


DRAIN = Task(task_id="in/drain", prompt="def drain(xs):\n", entry_point="drain",
             tests="assert drain([3, 1, 2]) == [1, 2, 3]\nassert drain([5, 4, 9, 0, 7]) == [0, 4, 5, 7, 9]\n",
             reference="def drain(xs):\n    xs, out = list(xs), []\n    while xs:\n"
                       "        out.append(xs.pop(xs.index(min(xs))))\n    return out\n")


def test_work_inside_builtins_is_bounded_in_this_machines_own_line_events(tmp_path):
    """Three line events per element, quadratic inside min() and index(): by the count alone
    the x1000 input (5,000 elements, 15,000 line events) fits the budget; its CPU, in units
    of this machine's line events, does not."""
    try:
        found = synthesise_inputs([DRAIN], SandboxConfig(workers=1, inputs_cache_dir=str(tmp_path)),
                                  executor=None).tasks[DRAIN.task_id].perf
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    sizes = [len(eval(src)[0]) for src in found.inputs]
    assert found.inputs and max(sizes) < 5000 and max(sizes) >= 50
