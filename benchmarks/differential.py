"""Differential testing's false failures: correct programs it must still pass.

* HumanEval's canonical solutions and MBPP's reference solutions, each run as a sample (a
  copy: the reference itself is never compared with its own outputs): every one must pass
  its strengthened tests;
* ENAMEL's expert solutions for HumanEval (efficient programs written independently of the
  canonical ones, ``../shared/data/enamel/samples/enamel-references.json``): every one that
  passes HumanEval's own tests should pass the strengthened ones too. Two of them, for
  HumanEval/103 and /111, already fail HumanEval's own tests (different edge-case
  semantics): they are reported apart and left out of the count of 162.

Also prints how many tasks got differential cases and how long synthesis took (into a
fresh cache). One JSON line at the end.

    PYTHONPATH=. .venv/bin/python benchmarks/differential.py [--mbpp ../shared/data/mbpp/mbpp.jsonl]
        [--enamel PATH] [--workers 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EDGE_SEMANTICS = {"HumanEval/103", "HumanEval/111"}


def _synthesise(tasks, config):
    from codealign.sandbox.inputs import synthesise_inputs

    started = time.monotonic()
    inputs = synthesise_inputs(tasks, config, profile=False)
    counts = [len(t.diff.cases) for t in inputs.tasks.values() if t.diff]
    return inputs, {"tasks": len(tasks), "with_cases": sum(1 for n in counts if n),
                    "cases": sum(counts), "median_cases": statistics.median(counts) if counts else 0,
                    "synthesis_s": round(time.monotonic() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mbpp", type=Path, default=SHARED / "mbpp" / "mbpp.jsonl")
    ap.add_argument("--enamel", type=Path, default=SHARED / "enamel" / "samples" / "enamel-references.json")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    from codealign.sandbox import Job, SandboxConfig, run_many
    from codealign.tasks import load_tasks

    config = SandboxConfig(workers=args.workers, inputs_cache_dir=tempfile.mkdtemp(prefix="codealign-diff-"))
    out: dict = {"benchmark": "differential"}

    humaneval = load_tasks("humaneval")
    inputs, stats = _synthesise(humaneval, config)
    experts = json.loads(args.enamel.read_text())
    jobs = [Job(t.task_id, t, t.reference + "\n# a copy\n") for t in humaneval]
    jobs += [Job(f"{t.task_id}#expert", t, experts[i][0]) for i, t in enumerate(humaneval)]
    strengthened = run_many(jobs, config, inputs=inputs)
    plain = run_many(jobs[len(humaneval):], dataclasses.replace(config, differential=False))
    canonical = strengthened[:len(humaneval)]
    wrong = [(s.task_id, s.detail[:240]) for s, p in zip(strengthened[len(humaneval):], plain)
             if p.status.value == "passed" and s.status.value != "passed"]
    edge = {p.task_id: p.detail[:120] for p in plain if p.status.value != "passed"}
    counted = len(humaneval) - len(EDGE_SEMANTICS)
    print(f"HumanEval: {stats['with_cases']}/{stats['tasks']} tasks with differential cases "
          f"({stats['cases']} in all, median {stats['median_cases']}; synthesis {stats['synthesis_s']} s)")
    print(f"  canonical solutions passing: {sum(e.status.value == 'passed' for e in canonical)}/{len(canonical)}")
    print(f"  ENAMEL experts wrongly failed: {len(wrong)}/{counted}")
    for task_id, why in wrong:
        print(f"    {task_id}: {why}")
    print(f"  ENAMEL experts failing HumanEval's own tests: {sorted(edge)}")
    out["humaneval"] = stats | {"canonical_passed": sum(e.status.value == "passed" for e in canonical),
                                "experts_counted": counted, "experts_wrongly_failed": len(wrong),
                                "wrongly_failed": [t for t, _ in wrong], "failing_own_tests": sorted(edge)}

    if args.mbpp.exists():
        # a generous clock, as tests/sandbox/test_datasets.py: what counts here is the verdict
        mbpp = [dataclasses.replace(t, timeout_s=120.0) for t in load_tasks(args.mbpp)]
        inputs, stats = _synthesise(mbpp, config)
        results = run_many([Job(t.task_id, t, t.reference + "\n# a copy\n") for t in mbpp], config,
                           inputs=inputs)
        failing = [(r.task_id, r.detail[:200]) for r in results if r.status.value != "passed"]
        print(f"MBPP ({args.mbpp.name}): {stats['with_cases']}/{stats['tasks']} tasks with differential "
              f"cases ({stats['cases']} in all; synthesis {stats['synthesis_s']} s); references passing "
              f"{len(mbpp) - len(failing)}/{len(mbpp)}")
        for task_id, why in failing[:10]:
            print(f"    {task_id}: {why}")
        out["mbpp"] = stats | {"references_passed": len(mbpp) - len(failing)}
    else:
        print(f"MBPP: {args.mbpp} is absent; skipped")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
