"""The execute stage on literal samples: the inputs it ran on are an artifact of the round
(hashed in its manifest), and its summary counts honest passes only."""

from __future__ import annotations

import json

import pytest

from codealign.config import RunConfig
from codealign.errors import SandboxUnavailable
from codealign.generator.sample import Sample
from codealign.jsonl import write_jsonl
from codealign.runs.events import EventLog
from codealign.runs.stages import Context, StageManifest, execute_stage, sha_path
from codealign.runs.state import CancelToken, RunLease
from codealign.sandbox import SandboxConfig
from codealign.sandbox.inputs import InputSet
from codealign.tasks.task import Task

SQUARES = Task(task_id="st/squares", prompt="def squares(xs):\n", entry_point="squares",
               tests="assert squares([1, 2, 3]) == [1, 4, 9]\nassert squares([]) == []\n",
               reference="def squares(xs):\n    return [x * x for x in xs]\n")
SAMPLES = {"right": "def squares(xs):\n    return [x * x for x in xs]\n",
           "wrong": "def squares(xs):\n    return [x + x for x in xs]\n",
           # passes in the sandbox; the tamper judge sees the heap walk: not an honest pass
           "tampered": "import gc\n\ndef squares(xs):\n    return [x ** 2 for x in xs]\n"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = RunConfig(model="m", tasks="t", sandbox=SandboxConfig(
        workers=1, inputs_cache_dir=str(run / "cache")))
    samples = [Sample(SQUARES.task_id, f"{SQUARES.task_id}#{k}", code) for k, code in SAMPLES.items()]
    (run / "round-1" / "sample").mkdir(parents=True)
    write_jsonl(run / "round-1" / "sample" / "samples.jsonl", (s.to_dict() for s in samples))
    sampled = StageManifest("sample", 1, "x", {}, {"samples": "samples.jsonl"},
                            {"samples": sha_path(run / "round-1" / "sample" / "samples.jsonl")}, {}, 0.0)
    with RunLease(run) as lease:
        ctx = Context(config, run, [SQUARES], lease, EventLog(run), CancelToken(run))
        try:
            manifest = execute_stage(ctx, 1, sampled)
        except SandboxUnavailable as exc:
            pytest.skip(f"bwrap sandbox unavailable: {exc}")
    return run, manifest


def test_the_inputs_are_in_the_round_and_hashed_in_the_manifest(executed):
    run, manifest = executed
    path = manifest.output(run, "inputs")
    assert path == run / "round-1" / "execute" / "inputs.json"
    assert manifest.output_hashes["inputs"] == sha_path(path)
    inputs = InputSet.read(path).tasks[SQUARES.task_id]
    assert inputs.perf.inputs and inputs.perf.source == "reference"    # scaled from the tests
    assert inputs.diff.cases and inputs.diff.comparison is not None    # the reference's outputs
    assert all(c.expected for c in inputs.diff.cases if c.args != "([],)")
    on_disk = json.loads((run / "round-1" / "execute" / "manifest.json").read_text())
    assert on_disk["outputs"]["inputs"] == "inputs.json"


def test_the_summary_counts_honest_passes_only(executed):
    _, manifest = executed
    result = manifest.result
    assert result["statuses"] == {"failed": 1, "passed": 2}
    # the wrong sample failed on a test and disagrees with the reference besides
    assert result["executions"] == 3
    assert result["passed"] == 1 and result["tampered_passes"] == 1
    assert result["references_passed"] == "1/1"
