"""How strong are HumanEval's and MBPP's tests? Mutation scores, with and without strengthening.

For every task of each set, `codealign.judges.strength.measure_strength` mutates the
reference (one edit each: comparison, arithmetic, boolean, constant, dropped ``not``, slice
bound, returned value; at most `MAX_MUTANTS` per task), runs each mutant in the sandbox
against the task's own tests, and compares the survivors with the reference on the
agreement inputs (the tests' own call arguments, short scaled-up versions of them, and
differential testing's kept inputs, made in the sandbox as the execute stage makes them).
A survivor that agrees everywhere is *likely equivalent* and leaves the denominator:

    score = killed by the tests / (mutants - likely equivalent)

Prints, per set: the pooled score (all tasks' mutants together), the per-task mean,
median, 5th and 10th percentiles, how many tasks fall below `WEAK_TESTS_THRESHOLD`, the
threshold HumanEval's distribution suggests (its 5th percentile rounded down to 0.05), the
score with strengthened inputs (a survivor that disagrees with the reference on one of
differential testing's inputs counts as killed), the operators whose mutants survive most, and a few surviving
mutants; then one JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/mutation_score.py [--sets humaneval mbpp]
        [--limit N] [--workers 0] [--mbpp ../shared/data/mbpp/mbpp.jsonl]

Scores are counts, not timings; only mutants killed by their time limit (a multiple of the
reference's own wall time in the same run) can move between runs on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
from pathlib import Path

MBPP = Path(os.environ.get("CODEALIGN_MBPP", "/work/shared/data/mbpp/mbpp.jsonl"))


def suggested_threshold(p5: float | None) -> float | None:
    """The 5th percentile of per-task scores, rounded down to a multiple of 0.05."""
    return None if p5 is None else math.floor(p5 * 20 + 1e-9) / 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["humaneval", "mbpp"],
                    help="task set names (humaneval, mbpp: the file --mbpp) or task files")
    ap.add_argument("--mbpp", type=Path, default=MBPP, help="mbpp.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="first N tasks of each set (0: all)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--backend", default="bwrap")
    args = ap.parse_args()

    from codealign.judges.strength import WEAK_TESTS_THRESHOLD, measure_strength, strengthened_inputs, summary
    from codealign.sandbox import SandboxConfig
    from codealign.tasks import load_tasks

    config = SandboxConfig(backend=args.backend, workers=args.workers)
    out: dict = {"benchmark": "mutation_score", "threshold": WEAK_TESTS_THRESHOLD}
    for name in args.sets:
        spec = args.mbpp if name == "mbpp" else name
        tasks = load_tasks(spec)[:args.limit or None]
        started = time.monotonic()
        # differential testing's kept inputs, made in the sandbox as the execute stage makes them
        strengthened = strengthened_inputs(tasks, config)
        strengths = measure_strength(tasks, config, strengthened=strengthened, progress=True)
        elapsed = time.monotonic() - started
        s = summary(strengths)
        survived = Counter(r.mutant.operator.value for x in strengths for r in x.survivors)
        made = Counter(r.mutant.operator.value for x in strengths for r in x.results)
        unscored = Counter(x.why.split(" (")[0] for x in strengths if x.score is None)
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"\n{name}: {s['scored']}/{s['tasks']} tasks scored, {s['mutants']} mutants, "
              f"{s['killed']} killed by the tests, {s['likely_equivalent']} likely equivalent "
              f"({elapsed:.0f}s){'; not scored: ' + str(dict(unscored)) if unscored else ''}")
        print(f"  mutation score, tests alone: pooled {fmt(s['pooled_score'])}; per task mean "
              f"{fmt(s['tests']['mean'])}, median {fmt(s['tests']['median'])}, "
              f"p5 {fmt(s['tests']['p5'])}, p10 {fmt(s['tests']['p10'])}, min {fmt(s['tests']['min'])}")
        print(f"  with strengthening: mean {fmt(s['strengthened']['mean'])}, median "
              f"{fmt(s['strengthened']['median'])}")
        print(f"  tasks below the weak-tests threshold {WEAK_TESTS_THRESHOLD:.2f}: {s['weak']}; "
              f"threshold this distribution suggests (p5, down to 0.05): "
              f"{fmt(suggested_threshold(s['tests']['p5']))}")
        print("  surviving non-equivalent mutants by operator: " + ", ".join(
            f"{op} {survived[op]}/{made[op]}" for op in sorted(made, key=lambda o: -survived[o])))
        weakest = sorted((x for x in strengths if x.score is not None), key=lambda x: (x.score, x.task_id))[:5]
        for x in weakest:
            print(f"    {x.task_id}: {x.killed}/{x.non_equivalent} "
                  f"(e.g. {x.survivors[0].mutant.description if x.survivors else '-'})")
        out[Path(str(spec)).stem if name not in ("humaneval", "mbpp") else name] = {
            "tasks": s["tasks"], "scored": s["scored"], "mutants": s["mutants"],
            "killed": s["killed"], "likely_equivalent": s["likely_equivalent"],
            "pooled_score": round(s["pooled_score"], 4),
            "mean": _round(s["tests"]["mean"]), "median": _round(s["tests"]["median"]),
            "p5": _round(s["tests"]["p5"]), "p10": _round(s["tests"]["p10"]),
            "min": _round(s["tests"]["min"]),
            "weak": s["weak"], "suggested_threshold": suggested_threshold(s["tests"]["p5"]),
            "strengthened_mean": _round(s["strengthened"]["mean"]),
            "strengthened_median": _round(s["strengthened"]["median"]),
            "survived_by_operator": dict(survived), "mutants_by_operator": dict(made),
            "seconds": round(elapsed, 1)}
    print(json.dumps(out))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


if __name__ == "__main__":
    main()
