"""The service under load, on loopback: N concurrent clients submit tasks, then read tasks and
rounds, against a running `codealign serve` with 10,000 tasks and a 100-round run stored,
for SQLite (the default) and PostgreSQL (a throwaway server, initdb/pg_ctl).

    .venv/bin/python benchmarks/api_load.py [--clients 8] [--submissions 2000] [--reads 3000]
                                            [--seconds 60] [--backends sqlite,postgresql]

Bounded: at most --submissions tasks and --reads reads per backend, each phase stopped after
--seconds. The clients are --clients keep-alive connections driven by this one asyncio
process (a process per client would take the 2 cores from the server); the table gives the
CPU share of the client and of the server in each phase. Submissions are accepted (202) once stored; validation runs in the background, as
in production. Checks that every accepted task is stored exactly once. Prints a table and
ends with one JSON line. Targets on a 2-core machine: >= 200 submissions/s, read p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STORED_TASKS = 10_000
STORED_ROUNDS = 100


def task(i: int, tag: str) -> dict:
    return {"task_id": f"{tag}-{i}", "prompt": f"Return a + b + {i}.", "entry_point": "add",
            "tests": f"assert add(1, 2) == {3 + i}\n", "reference": f"def add(a, b):\n    return a + b + {i}\n",
            "tags": [tag]}


def preload(home: Path, url: str) -> None:
    """10,000 active tasks in the store and a finished run with 100 rounds in the runs directory."""
    from codealign.jsonl import write_jsonl
    from codealign.records import RoundArtifacts, RoundMetrics, RoundRecord, RoundStatus
    from codealign.service.store import Database, upgrade
    from codealign.service.store.models import TaskRow, TaskTag, utcnow
    from codealign.tasks import Task

    upgrade(url)
    db = Database(url)
    with db.session() as s:
        now = utcnow()
        for i in range(STORED_TASKS):
            record = Task(task_id=f"stored-{i}", **{k: v for k, v in task(i, "stored").items()
                                                     if k not in ("task_id", "tags")}, tags=("stored",)).to_dict()
            s.add(TaskRow(task_id=f"stored-{i}", content_hash=f"{i:064x}", status="active", source="bench",
                          record=record, created_at=now, updated_at=now, tags=[TaskTag(tag="stored")]))
        s.commit()
    db.close()
    run = home / "runs" / "bench"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"name": "bench", "evaluation": {"k": [1, 4]}}))
    (run / "state.json").write_text(json.dumps({"status": "succeeded", "round": None, "stage": None,
                                                "holder": None, "heartbeat": None, "started_at": None,
                                                "finished_at": None, "error": None, "parent_run": None,
                                                "resumed": 0}))
    metrics = RoundMetrics(pass_at_1=0.5, pass_at_k={"1": 0.5, "4": 0.7}, secure_rate=0.9, secure_pass_rate=0.45,
                           mean_cost=2e-5, cost_unit="s", mean_tokens=40.0, samples=400)
    write_jsonl(run / "rounds.jsonl", (RoundRecord(
        round=k, status=RoundStatus.PROMOTED if k else RoundStatus.BASELINE, policy=f"round-{k}",
        metrics=metrics, artifacts=RoundArtifacts()).to_dict() for k in range(STORED_ROUNDS)))


def serve(home: Path, url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODEALIGN_DATABASE_URL": url,
           "CODEALIGN_VALIDATION_QUEUE": "100000", "CODEALIGN_VALIDATION_WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "codealign", "serve", "--port", str(port), "--home", str(home)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"codealign serve did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fan_out(clients: int, work, base: str, count: int, seconds: float, server_pid: int) -> tuple[list, dict]:
    """Run `await work(session, i)` for i in range(count) over `clients` concurrent keep-alive
    connections from this one asyncio process, stopping after `seconds`. The clients compete
    with the server for the 2 cores, so they are one process and aiohttp (about 0.3 ms of CPU
    a request here; httpx.AsyncClient 1.3 ms, a sync client per process more).
    Returns (results, {wall_s, client_cpu_s, server_cpu_s})."""
    import asyncio

    import aiohttp

    async def main() -> list:
        deadline = time.monotonic() + seconds
        todo = iter(range(count))
        async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=clients),
                                         timeout=aiohttp.ClientTimeout(total=30)) as client:
            async def connection() -> list:
                out = []
                for i in todo:
                    if time.monotonic() > deadline:
                        break
                    out.append(await work(client, i))
                return out

            shares = await asyncio.gather(*(connection() for _ in range(clients)))
        return [r for share in shares for r in share]

    client0, server0, start = cpu_seconds(os.getpid()), cpu_seconds(server_pid), time.perf_counter()
    results = asyncio.run(main())
    wall = time.perf_counter() - start
    return results, {"wall_s": wall, "client_cpu_s": cpu_seconds(os.getpid()) - client0,
                     "server_cpu_s": cpu_seconds(server_pid) - server0}


async def submit(client, i):
    async with client.post("/v1/tasks", json=task(i, "load")) as r:
        return r.status, (await r.json(content_type=None)).get("task_id")


async def read(client, i):
    rng = random.Random(i)
    kind = i % 3
    if kind == 0:
        path = f"/v1/tasks/stored-{rng.randrange(STORED_TASKS)}"
    elif kind == 1:
        path = f"/v1/tasks?limit=20&after={rng.randrange(STORED_TASKS)}"
    else:
        path = "/v1/runs/bench/rounds"
    start = time.perf_counter()
    async with client.get(path) as r:
        await r.read()
    return r.status, (time.perf_counter() - start) * 1000


def cpu_shares(phase: dict, requests: int) -> dict:
    """CPU per request and share of the machine (all cores) of the client and the server."""
    machine = phase["wall_s"] * (os.cpu_count() or 1)
    return {"client_cpu_ms": round(1000 * phase["client_cpu_s"] / max(1, requests), 2),
            "server_cpu_ms": round(1000 * phase["server_cpu_s"] / max(1, requests), 2),
            "client_cpu_share": round(phase["client_cpu_s"] / machine, 3),
            "server_cpu_share": round(phase["server_cpu_s"] / machine, 3)}


def bench(backend: str, url: str, args) -> dict:
    from tests.service.conftest import free_port

    home = Path(tempfile.mkdtemp(prefix=f"codealign-load-{backend}-"))
    preload(home, url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(home, url, port)
    try:
        # Reads first, on the stored data alone; then submissions (validation starts behind them).
        reads, read_phase = fan_out(args.clients, read, base, args.reads, args.seconds, proc.pid)
        submitted, submit_phase = fan_out(args.clients, submit, base, args.submissions, args.seconds, proc.pid)
        accepted = [tid for code, tid in submitted if code == 202]
        other = sorted({code for code, _ in submitted if code != 202})
        with httpx.Client(base_url=base, timeout=60) as client:
            stored, after = [], None
            while True:
                page = client.get("/v1/tasks", params={"tag": "load", "limit": 100,
                                                       **({"after": after} if after else {})}).json()
                stored += [t["task_id"] for t in page["items"]]
                if not page["has_more"]:
                    break
                after = page["next"]
        exactly_once = sorted(stored) == sorted(accepted) and len(set(stored)) == len(stored)
        latencies = sorted(ms for code, ms in reads if code == 200)
        return {"backend": backend, "submitted": len(submitted), "accepted": len(accepted),
                "other_statuses": other, "submissions_per_s": round(len(accepted) / submit_phase["wall_s"], 1),
                "stored_exactly_once": exactly_once, "reads": len(reads), "read_errors": len(reads) - len(latencies),
                "read_p50_ms": round(statistics.median(latencies), 2),
                "read_p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
                "reads_per_s": round(len(reads) / read_phase["wall_s"], 1),
                "submit_cpu": cpu_shares(submit_phase, len(submitted)), "read_cpu": cpu_shares(read_phase, len(reads))}
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    from tests.service.pgserver import PostgresServer, new_pg_database, postgres_available

    rows = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            rows.append(bench("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='codealign-load-')}/store.db", args))
        elif not postgres_available():
            rows.append({"backend": backend, "skipped": "PostgreSQL is not installed"})
        else:
            with PostgresServer() as pg:
                rows.append(bench("postgresql", new_pg_database(pg.url), args))
    print(f"{'backend':11} {'subm/s':>8} {'accepted':>9} {'once':>5} {'read p50':>9} {'read p99':>9} {'reads/s':>8}"
          f" {'client/server CPU, submit':>26} {'client/server CPU, read':>24}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['backend']:11} skipped: {r['skipped']}")
            continue
        shares = [f"{100 * r[phase]['client_cpu_share']:4.1f}% / {100 * r[phase]['server_cpu_share']:4.1f}%"
                  for phase in ("submit_cpu", "read_cpu")]
        print(f"{r['backend']:11} {r['submissions_per_s']:8.1f} {r['accepted']:9d} {str(r['stored_exactly_once']):>5} "
              f"{r['read_p50_ms']:7.2f}ms {r['read_p99_ms']:7.2f}ms {r['reads_per_s']:8.1f} {shares[0]:>26} {shares[1]:>24}")
    print(f"CPU: share of the machine's {os.cpu_count()} cores taken by the client process and by the server "
          "process (the validation sandboxes, its children, not counted)")
    print(f"targets: >= 200 submissions/s, read p99 <= 50 ms ({args.clients} clients, loopback, "
          f"{STORED_TASKS} tasks and {STORED_ROUNDS} rounds stored)")
    print(json.dumps({"benchmark": "api_load", "clients": args.clients, "results": rows}))


if __name__ == "__main__":
    main()
