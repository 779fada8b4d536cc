"""Test strength through the real sandbox (bwrap): mutants killed, survivors, likely
equivalents, strengthened inputs plugged in, a looping mutant stopped, a hostile reference
kept inside, and `codealign tasks check` printing it. Skipped where bwrap cannot run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from codealign.errors import SandboxUnavailable
from codealign.judges.strength import InputKind, measure_strength, weak_tests
from codealign.sandbox import SandboxConfig, Status
from codealign.tasks import Task

# The tests' lists all start with 0, so they cannot tell xs[1:] from xs[0:]; the scaled
# inputs can (a descending copy starts with a larger block). "+ 0" -> "- 0" is equivalent.
TAIL = Task("strength/tail_sum", "Sum all but the first item.", "tail_sum",
            "assert tail_sum([0, 5, 6]) == 11\nassert tail_sum([0]) == 0\n",
            reference="def tail_sum(xs):\n    return sum(xs[1:]) + 0\n")
STRONG = Task("strength/double", "Double it.", "double",
              "assert double(2) == 4\nassert double(-3) == -6\nassert double(0) == 0\n",
              reference="def double(x):\n    return x * 2\n")
LOOP = Task("strength/count_up", "Count from 0 to n.", "count_up",
            "assert count_up(3) == 3\nassert count_up(0) == 0\n",
            reference="def count_up(n):\n    i = 0\n    while i < n:\n        i += 1\n    return i\n")
CONFIG = SandboxConfig(backend="bwrap", workers=2)


def measure(tasks, **kw):
    try:
        return measure_strength(tasks, CONFIG, **kw)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


@pytest.fixture(scope="module")
def strengths():
    return {s.task_id: s for s in measure(
        [TAIL, STRONG, LOOP],
        strengthened={TAIL.task_id: ["([3, 1],)", "(None,)"]})}


def by_edit(strength, text):
    return next(r for r in strength.results if text in r.mutant.description)


def test_survivor_equivalent_and_killed_mutants(strengths):
    tail = strengths[TAIL.task_id]
    lower = by_edit(tail, "`lower 1` -> `lower 1 - 1`")
    assert not lower.killed and not lower.equivalent and lower.disagrees_on == (InputKind.SCALED, InputKind.STRENGTHENED)
    assert "differs from the reference" in lower.detail and "input (" in lower.detail
    minus = by_edit(tail, "`+` -> `-`")                  # sum(...) - 0: the same function
    assert minus.equivalent and minus.disagrees_on == ()
    assert by_edit(tail, "return None").killed
    assert tail.score == pytest.approx(tail.killed / tail.non_equivalent) and tail.score < 1
    assert lower.mutant.description in [r.mutant.description for r in tail.survivors]
    assert weak_tests(tail, threshold=1.0).startswith("weak-tests: the tests kill")
    assert strengths[STRONG.task_id].score == 1.0 and weak_tests(strengths[STRONG.task_id]) is None


def test_strengthened_inputs_plug_in_and_inputs_the_reference_rejects_are_dropped(strengths):
    tail = strengths[TAIL.task_id]
    assert tail.inputs[InputKind.STRENGTHENED] == 1          # "(None,)": the reference raises
    assert tail.inputs[InputKind.TESTS] == 2 and tail.inputs[InputKind.SCALED] > 0
    assert by_edit(tail, "`lower 1` -> `lower 1 - 1`").killed_strengthened
    assert tail.strengthened_score == 1.0 > tail.score
    assert strengths[STRONG.task_id].strengthened_score is None   # none given: n/a


def test_a_looping_mutant_is_stopped_at_a_limit_set_by_the_reference(strengths):
    loop = strengths[LOOP.task_id]
    hang = by_edit(loop, "`+` -> `-`")                         # i -= 1: never reaches n
    assert hang.killed and hang.tests is Status.TIMEOUT


def test_no_reference_or_a_failing_one_is_not_scored():
    broken = Task("strength/broken", "x", "f", "assert f(1) == 2\n", reference="def f(x):\n    return x\n")
    found = {s.task_id: s for s in measure([broken, Task("strength/none", "x", "f", "assert f(1)\n")])}
    assert found["strength/broken"].score is None and "does not pass" in found["strength/broken"].why
    assert found["strength/none"].score is None and found["strength/none"].why == "no reference"


def test_a_hostile_reference_stays_in_the_sandbox(tmp_path):
    marker = Path("/tmp") / f"codealign-strength-{uuid.uuid4().hex}"
    reference = (f"open({str(marker)!r}, 'w').write('x')\n"
                 "def tail_sum(xs):\n    return sum(xs[1:]) + 0\n")
    hostile = Task(TAIL.task_id, TAIL.prompt, TAIL.entry_point, TAIL.tests, reference=reference)
    result = measure([hostile])[0]
    assert not marker.exists()      # written inside the sandbox's own /tmp, never the host's
    assert result.mutants > 0


def test_cli_tasks_check_prints_strength_per_task_and_summary(tmp_path):
    from typer.testing import CliRunner

    from codealign.cli import app

    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in (TAIL, STRONG)))
    result = CliRunner().invoke(app, ["tasks", "check", str(path), "--workers", "2"],
                                env={"COLUMNS": "250"})
    if isinstance(result.exception, SandboxUnavailable):
        pytest.skip(str(result.exception))
    assert result.exit_code == 0, result.output
    assert "2/2 references pass" in result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:]]
            for line in result.output.splitlines() if line.startswith("│ strength/")}
    assert rows["strength/double"][3] == "1.00" and rows["strength/double"][4] == "1.00"
    # differential testing's inputs kill at least what the tests kill
    assert float(rows["strength/tail_sum"][4]) >= float(rows["strength/tail_sum"][3])
    assert float(rows["strength/tail_sum"][3]) < 1 and "lower 1" in rows["strength/tail_sum"][5]
    assert "test strength: 2/2 tasks scored" in result.output
