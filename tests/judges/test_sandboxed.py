"""judge_samples end to end through the real sandbox (bwrap), and the `codealign judge` CLI.

Skipped where bwrap cannot run. The stability test keeps the other core busy with a
spinning process while the same candidates are judged three times.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from codealign.errors import SandboxUnavailable
from codealign.judges import judge_samples
from codealign.judges.pairs import PairConfig
from judge_fixtures import PROGRAMS, TASK, samples

PERF_TASK = dataclasses.replace(TASK, perf_inputs=("(list(range(400)) * 3,)",
                                                   "([i % 37 for i in range(2000)],)"))
EXTRA = {
    "set-seen": TASK.prompt + (
        "    seen = set()\n    out = []\n    for x in xs:\n        if x not in seen:\n"
        "            seen.add(x)\n            out.append(x)\n    return out\n"),
    "quadratic": TASK.prompt + (
        "    out = []\n    for i in range(len(xs)):\n        dup = False\n"
        "        for j in range(i):\n            if xs[j] == xs[i]:\n                dup = True\n"
        "        if not dup:\n            out.append(xs[i])\n    return out\n"),
}
CANDIDATES = ("fast", "slow", "convoluted", "insecure", "wrong", "crash", "exiter", "forger")


def _samples():
    from codealign.generator.sample import Sample

    return samples(CANDIDATES) + [Sample(TASK.task_id, k, v) for k, v in EXTRA.items()]


def _sandbox():
    from codealign.sandbox import SandboxConfig

    return SandboxConfig(backend="bwrap", workers=1)


def _judge(config=PairConfig()):
    try:
        return judge_samples([PERF_TASK], _samples(), _sandbox(), pair_config=config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


@pytest.fixture()
def busy_core():
    """A process spinning on a core for the duration of the test."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield spinner
    spinner.kill()
    spinner.wait()


def test_pairs_identical_three_times_under_load(busy_core):
    """The cost is CPU time with a floor calibrated in the run (no constant of this
    machine's speed). Under load the same candidates give the same pairs three times, and the
    ranks keep every order that lies beyond CPU-time noise: the work done, not the line
    count. Ranks between close samples (here "fast" and "set-seen", under 2x apart) follow
    the readings at a 10% tolerance and may swap (`codealign.judges.ranking`); pairs never
    read ranks, so training data does not move.

    What pairs promise (`codealign.judges.pairs.clearly_cheaper`) excludes two samples whose
    measured cost ratio sits within noise of the cpu band (4x): "convoluted" and "slow" read
    4.7-8x apart here and under 4x in about one loaded run in six, and then their efficiency
    pair does not form. Efficiency and maintainability pairs (the rules that read measured
    cost) between such samples are left out of the comparison; every other pair must hold."""
    band = PairConfig().efficiency_cpu_band

    def near_band(a: str, b: str, costs: dict[str, float]) -> bool:
        ratio = max(costs[a], costs[b]) / min(costs[a], costs[b])
        return band / 2 <= ratio <= band * 2

    runs, costs = [], []
    for _ in range(3):
        verdicts, pairs, summary = _judge(PairConfig(max_pairs_per_task=50))
        passing = sorted((v for v in verdicts if v.passed), key=lambda v: v.rank)
        costs.append({v.sample_id: v.score("efficiency").details["cost_s"] for v in passing})
        runs.append(([v.sample_id for v in passing],
                     {v.sample_id: v.execution.cost.ops for v in passing},
                     sorted((p.chosen_verdict.sample_id, p.rejected_verdict.sample_id,
                             p.reason.value, p.margin) for p in pairs),
                     summary["efficiency_calibration"]["s_per_op"]))
    assert busy_core.poll() is None  # the load was there the whole time
    moves = {(a, b) for a in costs[0] for b in costs[0]
             if a != b and any(near_band(a, b, c) for c in costs)}
    kept = [[p for p in pairs if p[2] not in ("efficiency", "maintainability") or p[:2] not in moves]
            for _, _, pairs, _ in runs]
    assert kept[0] == kept[1] == kept[2]                   # the same pairs, margins included
    assert len(kept[0]) >= 8
    assert all(floor is not None and floor > 0 for *_, floor in runs)   # calibrated in each run
    assert runs[0][1] == runs[1][1] == runs[2][1]          # op counts are deterministic
    assert ("set-seen", "quadratic", "efficiency") in {p[:3] for p in runs[0][2]}
    for ids, ops, _, _ in runs:
        assert sorted(ids) == sorted(["fast", "slow", "convoluted", "insecure", "set-seen",
                                      "quadratic"])
        assert ids[-1] == "insecure"   # security is a hard line, whatever its cost
        # "quadratic" does hundreds of times the work of "set-seen"; "slow" (list
        # membership: quadratic inside C, few line events) is dearer than "convoluted"
        # (three times its line events, linear), which the op count alone gets backwards
        assert ids.index("quadratic") > ids.index("set-seen")
        assert ops["slow"] < ops["convoluted"] and ids.index("slow") > ids.index("convoluted")
        assert ids.index("quadratic") > ids.index("slow")


def test_judge_samples_end_to_end():
    verdicts, pairs, summary = _judge(PairConfig(max_pairs_per_task=50))
    by_id = {v.sample_id: v for v in verdicts}
    assert [v.sample_id for v in verdicts] == [s.sample_id for s in _samples()]
    assert by_id["fast"].passed and by_id["fast"].score("efficiency").details["baseline_source"] == "reference"
    assert not by_id["exiter"].passed and not by_id["forger"].passed
    assert by_id["exiter"].rank > by_id["crash"].rank and by_id["forger"].rank > by_id["crash"].rank
    assert summary["references"] == {"profiled": 1, "passed": 1}
    for p in pairs:
        assert p.chosen_verdict.sample_id not in ("exiter", "forger", "wrong", "crash")
    assert {p.reason.value for p in pairs} >= {"correctness", "efficiency", "security"}


def test_cli_judge_writes_three_files(tmp_path):
    from typer.testing import CliRunner

    from codealign.cli import app

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(PERF_TASK.to_dict()) + "\n")
    lines = [{"task_id": TASK.task_id, "sample_id": "fast", "code": PROGRAMS["fast"]},
             {"task_id": TASK.task_id, "completion": PROGRAMS["slow"][len(TASK.prompt):]},
             {"task_id": TASK.task_id, "sample_id": "wrong", "code": PROGRAMS["wrong"]}]
    sample_file = tmp_path / "samples.jsonl"
    sample_file.write_text("".join(json.dumps(d) + "\n" for d in lines))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["judge", str(tasks), str(sample_file), "--out", str(out),
                                      "--workers", "1"])
    if isinstance(result.exception, SandboxUnavailable):
        pytest.skip(str(result.exception))
    assert result.exit_code == 0, result.output
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert [v["sample_id"] for v in verdicts] == ["fast", f"{TASK.task_id}#2", "wrong"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 3 and summary["by_status"]["passed"] == 2
    pairs = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
    # fast over slow is also a maintainability pair: the static judge's reason names it
    assert pairs and {(p["reason"], p["chosen_id"]) for p in pairs} >= {("correctness", "fast"),
                                                                         ("maintainability", "fast")}

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lines[0]) + "\n{not json\n")
    result = CliRunner().invoke(app, ["judge", str(tasks), str(bad), "--out", str(out)])
    assert result.exit_code != 0 and ":2:" in str(result.exception)
