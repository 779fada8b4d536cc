"""Executions per second of the sandbox, local executor against the Ray executor, on the same
machine, workers and jobs (HumanEval canonical solutions): the overhead of going through Ray.

    .venv/bin/python benchmarks/ray_overhead.py [--copies 2] [--workers 2] [--repeats 3]

Ray is started once (a local instance with `workers` CPUs and `sandbox` slots) before the
timings; each repeat times one `run_many` per executor. Prints a table (medians) and ends
with one JSON line. Without Ray installed it says so and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time


def rate(jobs, config) -> tuple[float, int]:
    from codealign.sandbox import run_many

    start = time.perf_counter()
    results = run_many(jobs, config)
    return len(jobs) / (time.perf_counter() - start), sum(r.sandbox_passed for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install 'codealign[ray]'): skipped")
        return

    from codealign.sandbox import Job, SandboxConfig
    from codealign.sandbox.ray_executor import RESOURCE
    from codealign.tasks import load_tasks

    tasks = load_tasks("humaneval")
    jobs = [Job(f"{t.task_id}#{k}", t, t.reference) for k in range(args.copies) for t in tasks]
    local = SandboxConfig(workers=args.workers)
    configs = {"local": local, "ray": dataclasses.replace(local, executor="ray")}
    ray.init(num_cpus=args.workers, resources={RESOURCE: args.workers}, include_dashboard=False,
             log_to_driver=False)
    try:
        rate(jobs[:8], configs["ray"])     # warm the Ray workers (imports) outside the timings
        runs: dict[str, list[float]] = {name: [] for name in configs}
        passed: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, config in configs.items():
                r, passed[name] = rate(jobs, config)
                runs[name].append(r)
    finally:
        ray.shutdown()
    median = {name: statistics.median(v) for name, v in runs.items()}
    print(f"{len(jobs)} executions (HumanEval references x{args.copies}), {args.workers} workers, "
          f"median of {args.repeats}")
    print(f"{'executor':<10}{'exec/s':>10}{'passed':>10}")
    for name in configs:
        print(f"{name:<10}{median[name]:>10.1f}{passed[name]:>10}")
    ratio = median["ray"] / median["local"]
    print(f"ray / local throughput: {ratio:.2f}")
    print(json.dumps({"benchmark": "ray_overhead", "jobs": len(jobs), "workers": args.workers,
                      "repeats": args.repeats, "exec_per_s": {k: round(v, 2) for k, v in median.items()},
                      "ray_over_local": round(ratio, 3), "passed": passed}))


if __name__ == "__main__":
    main()
