"""What task validation costs with the test-strength measurement (issue 19 item 4), and what the
mutant count changes in its verdict.

    .venv/bin/python benchmarks/intake_validation.py [--set bank] [--tasks 20] [--repeats 3]
                                                      [--mutants 10,20,40] [--workers 2]

Baseline: the two sandbox executions every submitted task had before (its reference against
its tests, and the trivial answer), for the first --tasks tasks of the set, in one batch over
--workers sandboxes (bwrap), as the service's validator runs them. Then, per mutant count,
`codealign.judges.strength.measure_strength` on the same tasks (reusing the baseline's
reference executions, as validation does), all tasks in one call, and with the service's
default count one task at a time, as the validator runs it. Each figure is the median of --repeats runs in
this process, seconds per task, with its ratio to the baseline measured in the same run; and
the tasks each mutant count calls weak (`weak_tests` at the default threshold): fewer mutants
is cheaper but judges on fewer edits. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from codealign.judges.strength import WEAK_TESTS_THRESHOLD, measure_strength, weak_tests
    from codealign.sandbox import Job, SandboxConfig, run_many
    from codealign.service.settings import Settings
    from codealign.service.validation import trivial_candidate
    from codealign.tasks import load_tasks, reference_id

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="bank")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mutants", default="10,20,40")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tasks = [t for t in load_tasks(args.set) if t.reference][: args.tasks]
    config = SandboxConfig(backend="bwrap", workers=args.workers)
    counts = [int(m) for m in args.mutants.split(",")]
    DEFAULT = Settings.model_fields["validation_mutants"].default

    def baseline() -> tuple[float, dict]:
        jobs = [job for t in tasks for job in (Job(reference_id(t), t, t.reference),
                                               Job(f"{t.task_id}#trivial", t, trivial_candidate(t.entry_point)))]
        start = time.perf_counter()
        runs = run_many(jobs, config)
        return time.perf_counter() - start, {t.task_id: runs[2 * i] for i, t in enumerate(tasks)}

    base, strength, weak, mutants = [], {m: [] for m in counts}, {}, {}
    alone: list[float] = []
    for _ in range(args.repeats):
        seconds, references = baseline()
        base.append(seconds / len(tasks))
        for m in counts:
            start = time.perf_counter()
            found = measure_strength(tasks, config, references=references, limit=m)
            strength[m].append((time.perf_counter() - start) / len(tasks))
            weak[m] = sorted(s.task_id for s in found if weak_tests(s) is not None)
            mutants[m] = statistics.mean(s.mutants for s in found)
        # As the service's validator measures: one task at a time (so that it can settle each
        # and yield to a new submitter between tasks), with the default mutant count.
        start = time.perf_counter()
        for t in tasks:
            measure_strength([t], config, references={t.task_id: references[t.task_id]}, limit=DEFAULT)
        alone.append((time.perf_counter() - start) / len(tasks))
    b = statistics.median(base)
    print(f"{len(tasks)} tasks of {args.set}, {args.workers} bwrap sandboxes, median of {args.repeats}")
    print(f"{'validation':<28} {'s/task':>8} {'x baseline':>11} {'mutants/task':>13} {'weak':>5}")
    print(f"{'reference + trivial (before)':<28} {b:>8.3f} {1.0:>11.2f} {'':>13} {'':>5}")
    rows = {}
    for m in counts:
        s = statistics.median(strength[m])
        rows[m] = {"s_per_task": round(b + s, 4), "ratio": round((b + s) / b, 2),
                   "mutants_per_task": round(mutants[m], 1), "weak": weak[m]}
        print(f"{f'+ strength, {m} mutants':<28} {b + s:>8.3f} {(b + s) / b:>11.2f} {mutants[m]:>13.1f} {len(weak[m]):>5}")
    a = statistics.median(alone)
    print(f"{f'+ strength, {DEFAULT}, one by one':<28} {b + a:>8.3f} {(b + a) / b:>11.2f} {'':>13} {'':>5}")
    for m in counts:
        print(f"weak at {WEAK_TESTS_THRESHOLD} with {m} mutants: {', '.join(weak[m]) or 'none'}")
    print(json.dumps({"set": args.set, "tasks": len(tasks), "baseline_s_per_task": round(b, 4),
                      "with_strength": rows, "one_by_one_s_per_task": round(b + a, 4),
                      "threshold": WEAK_TESTS_THRESHOLD}))


if __name__ == "__main__":
    main()
