"""What the demo's execute stage costs: every seed variant of the bank tasks plus each task's
reference, run with profiling (as the loop's execute stage does), timed end to end.

Also prints the CPU time the efficiency judge reads for `bank/binary_search`'s reference
(a binary search computes in microseconds: anything much above that is measurement
overhead, not the candidate's work).

    PYTHONPATH=. .venv/bin/python benchmarks/execute_stage.py [--copies 1] [--workers 0]

Runs against whichever `codealign` is first on the path, so the same script measures a
branch before and after a change. Prints a table line, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=1, help="run every job this many times")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--backend", default="bwrap")
    ap.add_argument("--tasks", type=int, default=0, help="first N bank tasks only, and bank/binary_search (0: all)")
    args = ap.parse_args()

    from codealign.sandbox import Job, SandboxConfig, run_many
    from codealign.tasks import load_tasks
    from codealign.tasks.bank import load_variants

    bank = load_tasks("bank")
    tasks = {t.task_id: t for t in bank[:args.tasks or None]
             + [t for t in bank if t.task_id == "bank/binary_search"]}
    jobs = []
    for k in range(args.copies):
        for i, v in enumerate(load_variants()):
            if v.task_id not in tasks:
                continue
            task = tasks[v.task_id]
            jobs.append(Job(f"{v.task_id}#{i}.{k}", task, task.prompt + v.completion, profile=True))
        jobs += [Job(f"{t.task_id}::reference.{k}", t, t.reference, profile=True)
                 for t in tasks.values() if t.reference]
    config = SandboxConfig(backend=args.backend, workers=args.workers)
    run_many(jobs[:2], config)   # warm the interpreter's and the kernel's caches
    start = time.monotonic()
    results = run_many(jobs, config)
    elapsed = time.monotonic() - start
    passed = [r for r in results if r.sandbox_passed]
    search = [r.cost.perf_cpu_s for r in results
              if r.sample_id.startswith("bank/binary_search::reference") and r.cost.perf_cpu_s]
    profiled = [r.cost.perf_cpu_s for r in passed if r.cost.perf_cpu_s is not None]
    out = {"benchmark": "execute_stage", "jobs": len(jobs), "passed": len(passed),
           "workers": config.worker_count, "seconds": round(elapsed, 2),
           "jobs_per_s": round(len(jobs) / elapsed, 2),
           "binary_search_reference_cpu_s": round(statistics.median(search), 6) if search else None,
           "median_perf_cpu_s": round(statistics.median(profiled), 6) if profiled else None}
    print(f"{len(jobs)} profiled jobs ({len(passed)} passed) on {config.worker_count} sandboxes: "
          f"{elapsed:.1f}s; binary_search reference reads {out['binary_search_reference_cpu_s']} s CPU")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
