"""What the execute stage costs, with and without differential testing, against a baseline
checkout measured in the same run.

Two workloads, each run as the loop's execute stage runs it (every job profiled, each task's
reference besides; first the inputs are synthesised, then the jobs run on them):

* ``bank`` (the demo's execute stage): every seed variant of the habit bank's tasks (the
  demo samples these programs' like) and each task's reference, with the demo's 3 timed
  passes per passing sample (``configs/demo.yaml``);
* ``humaneval``: 10 samples per HumanEval task: 5 copies of the canonical solution and 3 of
  ENAMEL's expert one (each copy differs by a comment, so it is its own sample), and 2
  broken ones (the entry point answering None, and off by one); 5 timed passes (the default).
  ``--limit N`` takes the first N tasks only.

For each workload it times, in alternating order so the machine's load falls on all alike,
``--repeats`` runs of each configuration, each in a fresh process: the branch with
differential testing on, off, and the baseline checkout (``--base DIR``: a tree of the code
before the change, e.g. ``git archive <rev> | tar -x -C DIR``) which knows no such switch.
Every run synthesises inputs into a fresh cache (as on a fresh machine) unless ``--warm``.
Prints a table of medians with the ratio to the baseline, then one JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/execute_stage.py --base /tmp/base \
        [--workloads bank humaneval] [--repeats 3] [--workers 0] [--warm]

``--one WORKLOAD`` runs a single measurement in this process (what the driver spawns):
it prints one JSON line with the phases' seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENAMEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "enamel" / "samples" / "enamel-references.json"


def _jobs(workload: str, enamel: Path, limit: int) -> list:
    from codealign.sandbox import Job
    from codealign.tasks import load_tasks

    jobs = []
    if workload == "bank":
        from codealign.tasks.bank import load_variants

        tasks = {t.task_id: t for t in load_tasks("bank")}
        for i, v in enumerate(load_variants()):
            task = tasks[v.task_id]
            jobs.append(Job(f"{v.task_id}#{i}", task, task.prompt + v.completion, profile=True))
    else:
        tasks = {t.task_id: t for t in load_tasks("humaneval")[:limit or None]}
        experts = json.loads(enamel.read_text())
        for i, task in enumerate(tasks.values()):
            codes = [task.reference + f"\n# copy {k}\n" for k in range(5)]
            codes += [experts[i][0] + f"\n# copy {k}\n" for k in range(3)]
            codes += [task.reference + f"\n{task.entry_point} = lambda *a, **k: None\n",
                      task.reference + f"\n_f = {task.entry_point}\n"
                      f"def {task.entry_point}(*a):\n    r = _f(*a)\n"
                      "    return r + 1 if type(r) is int else r\n"]
            jobs += [Job(f"{task.task_id}#{k}", task, code, profile=True) for k, code in enumerate(codes)]
    jobs += [Job(f"{t.task_id}::reference", t, t.reference, profile=True) for t in tasks.values() if t.reference]
    return jobs


def one(workload: str, differential: str, workers: int, cache: str, enamel: Path, limit: int) -> dict:
    """One execute stage: synthesis (when this codealign has it as a step), then the jobs."""
    import dataclasses

    from codealign.sandbox import SandboxConfig, run_many

    jobs = _jobs(workload, enamel, limit)
    config = SandboxConfig(workers=workers, repeats=3 if workload == "bank" else SandboxConfig().repeats)
    fields = {f.name for f in dataclasses.fields(SandboxConfig)}
    if "differential" in fields:
        config = dataclasses.replace(config, differential=differential == "on", inputs_cache_dir=cache)
    elif "perf_cache_dir" in fields:
        config = dataclasses.replace(config, perf_cache_dir=cache)
    run_many(jobs[:2], dataclasses.replace(config, synthesise_perf_inputs=False))   # warm caches
    started = time.monotonic()
    inputs = None
    if "differential" in fields:
        from codealign.sandbox.inputs import synthesise_inputs

        inputs = synthesise_inputs(list({j.task.task_id: j.task for j in jobs}.values()), config)
    synthesised = time.monotonic()
    results = run_many(jobs, config, **({"inputs": inputs} if inputs is not None else {}))
    done = time.monotonic()
    passed = sum(r.status.value == "passed" for r in results)
    return {"workload": workload, "jobs": len(jobs), "passed": passed,
            "synthesis_s": round(synthesised - started, 2), "run_s": round(done - synthesised, 2),
            "seconds": round(done - started, 2),
            "cases": sum(len(t.diff.cases) for t in inputs.tasks.values() if t.diff) if inputs else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="a checkout of the code before the change (the baseline)")
    ap.add_argument("--workloads", nargs="+", default=["bank", "humaneval"], choices=["bank", "humaneval"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--warm", action="store_true", help="keep one cache per configuration across repeats")
    ap.add_argument("--limit", type=int, default=0, help="humaneval: the first N tasks only (0: all)")
    ap.add_argument("--enamel", type=Path, default=ENAMEL,
                    help="ENAMEL's enamel-references.json (default: ../shared/data/enamel/samples/)")
    ap.add_argument("--one", choices=["bank", "humaneval"], help=argparse.SUPPRESS)
    ap.add_argument("--differential", default="on", choices=["on", "off"], help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.differential, args.workers, args.cache, args.enamel, args.limit)))
        return

    here = str(Path(__file__).resolve().parents[1])
    configs = [("on", here, "on"), ("off", here, "off")] + ([("base", args.base, "on")] if args.base else [])
    caches = {name: tempfile.mkdtemp(prefix=f"codealign-bench-{name}-") for name, _, _ in configs}
    out: dict = {"benchmark": "execute_stage", "workers": args.workers, "warm": args.warm}
    for workload in args.workloads:
        runs: dict[str, list[dict]] = {name: [] for name, _, _ in configs}
        for _ in range(args.repeats):
            for name, root, differential in configs:
                cache = caches[name] if args.warm else tempfile.mkdtemp(prefix="codealign-bench-")
                env = dict(os.environ, PYTHONPATH=root)
                done = subprocess.run([sys.executable, __file__, "--one", workload, "--differential",
                                       differential, "--workers", str(args.workers), "--cache", cache,
                                       "--enamel", str(args.enamel), "--limit", str(args.limit)],
                                      capture_output=True, text=True, env=env, cwd=root, check=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = {name: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "synthesis_s", "run_s")}
               | {"jobs": rs[0]["jobs"], "passed": rs[0]["passed"], "cases": rs[0]["cases"],
                  "all_seconds": [r["seconds"] for r in rs]}
               for name, rs in runs.items()}
        base = row.get("base", {}).get("seconds")
        print(f"{workload}: {row['on']['jobs']} profiled jobs, medians of {args.repeats} "
              f"({'warm' if args.warm else 'fresh'} input cache)")
        for name in row:
            r = row[name]
            ratio = f"{r['seconds'] / base:.2f}x base" if base else ""
            print(f"  {name:>4}: {r['seconds']:7.2f} s (synthesis {r['synthesis_s']:.2f} s, run {r['run_s']:.2f} s)"
                  f"  passed {r['passed']}/{r['jobs']}  cases {r['cases']}  {ratio}")
        if base:
            row["ratio_on_to_base"] = round(row["on"]["seconds"] / base, 3)
            row["ratio_off_to_base"] = round(row["off"]["seconds"] / base, 3)
        out[workload] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
