"""Server-side render time of every dashboard page on a big run: 60 rounds × 500 tasks.

The run directory is synthesised in the loop's layout (tests/dashboard/synthetic_run.py:
samples, executions, verdicts, pairs, DPO metrics, evaluation outcomes and reports, stage
manifests, rounds.jsonl) and served by the real service app (store, key check, dashboard)
in-process through Starlette's TestClient, so a measured request includes routing, the
login-cookie check against the store, the run reader and Jinja2 rendering — everything but
the socket. Wall time is what counts; the process's CPU time per request is printed beside it
(on a machine shared with other work, wall-time outliers are other processes' turns).

First the run's index is built as the service builds it when a run worker exits
(`refresh_run` with the run's cache directory: every round's per-task results and line
indexes derived and kept under the service home; printed as "index build", wall and CPU
seconds — what the first view cost before anything was kept). `--no-index` leaves the cache
empty instead, so the first requests derive what they read. Then per page: the first request
(cold: the kept files are read and the per-round figures computed, then kept while the run's
records do not change) and then `--repeat` requests (warm); the target is p95 ≤ 300 ms for the
warm requests. The task page cycles through different tasks; its first two requests (a
held-out and a train task) count as cold.

    .venv/bin/python benchmarks/dashboard_render.py [--rounds 60] [--tasks 500] [--repeat 20]

Prints one line per page and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
TARGET_P95_MS = 300.0


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--home", type=Path, default=None,
                        help="Service home to keep the synthetic run in (default: a temporary one)")
    parser.add_argument("--no-index", action="store_true",
                        help="Leave the run's cache empty: the first requests derive what they read")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    import shutil

    from codealign.service.app import create_app
    from codealign.service.dashboard.pages import COOKIE
    from codealign.service.settings import Settings
    from codealign.service.store.keys import create_key
    from codealign.service.runindex import refresh_run
    from codealign.service.store.models import Scope
    from synthetic_run import synthesize_run

    home = args.home or Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    settings = Settings(home=home, configs_dir=home / "configs")
    run = settings.runs_dir / f"bench-{args.rounds}x{args.tasks}"
    if not (run / "rounds.jsonl").exists():
        started = time.perf_counter()
        synthesize_run(run, rounds=args.rounds, tasks=args.tasks, train_samples=4, eval_samples=8, steps=20)
        print(f"synthesised {run} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    size_mb = sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) / 2**20

    shutil.rmtree(settings.run_cache(run.name), ignore_errors=True)
    app = create_app(settings)
    index = None
    with TestClient(app, base_url="http://127.0.0.1") as client:     # a loopback Host: the service checks it
        if not args.no_index:
            started, started_cpu = time.perf_counter(), time.process_time()
            refresh_run(app.state.db, run.name, run, cache_dir=settings.run_cache(run.name))
            index = {"wall_s": round(time.perf_counter() - started, 2),
                     "cpu_s": round(time.process_time() - started_cpu, 2)}
            print(f"index build {index['wall_s']:.1f} s (CPU {index['cpu_s']:.1f} s)")
        with app.state.db.session() as session:
            client.cookies.set(COOKIE, create_key(session, Scope.READ, "bench"))
        split = json.loads((run / "split.json").read_text())
        # the first two task pages (one held-out, one train task) read their sides' samples: cold
        tasks = [split["heldout"][0], split["train"][0], *split["heldout"][1:args.repeat // 2], *split["train"][1:]]
        name = run.name
        pages = {"runs": lambda i: "/", "overview": lambda i: f"/runs/{name}",
                 "matrix": lambda i: f"/runs/{name}/matrix",
                 "task": lambda i: f"/runs/{name}/tasks/{tasks[i % len(tasks)]}",
                 "flips": lambda i: f"/runs/{name}/flips?a=0&b={args.rounds}",
                 "quality": lambda i: f"/runs/{name}/quality",
                 "dpo": lambda i: f"/runs/{name}/dpo?round={1 + i % args.rounds}",
                 "pairs": lambda i: f"/runs/{name}/pairs?round={args.rounds}",
                 "live": lambda i: f"/runs/{name}/live"}
        results = {}
        for page, path in pages.items():
            times, cpu, size = [], [], 0
            for i in range(args.repeat + (2 if page == "task" else 1)):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(path(i))
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path(i)}: HTTP {response.status_code}: {response.text[:300]}")
                size = len(response.content)
            cold = 2 if page == "task" else 1
            warm = times[cold:]
            results[page] = {"cold_ms": round(max(times[:cold]), 1), "p50_ms": round(statistics.median(warm), 1),
                             "p95_ms": round(p95(warm), 1), "cpu_p95_ms": round(p95(cpu[cold:]), 1),
                             "kib": size // 1024}
            r = results[page]
            print(f"{page:9} cold {r['cold_ms']:8.1f} ms   warm p50 {r['p50_ms']:6.1f} ms  "
                  f"p95 {r['p95_ms']:6.1f} ms (CPU {r['cpu_p95_ms']:6.1f} ms)   {r['kib']:5d} KiB")
    worst = max(r["p95_ms"] for r in results.values())
    verdict = "meets" if worst <= TARGET_P95_MS else "MISSES"
    print(f"worst warm p95 {worst:.1f} ms: {verdict} the {TARGET_P95_MS:.0f} ms target "
          f"({args.rounds} rounds × {args.tasks} tasks, {size_mb:.0f} MiB of run records)")
    print(json.dumps({"benchmark": "dashboard_render", "rounds": args.rounds, "tasks": args.tasks,
                      "repeat": args.repeat, "run_mib": round(size_mb), "index_build": index, "pages": results,
                      "worst_p95_ms": worst, "target_p95_ms": TARGET_P95_MS}))


if __name__ == "__main__":
    main()
