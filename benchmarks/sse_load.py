"""Event streams under load: 50 Server-Sent-Events subscribers on one *running* run (a long
events.jsonl, growing), against the service on loopback, for two ways of serving them:

    shared    the service's `RunTail`: one incremental reader per run, each line parsed once
    naive     the previous stream (the baseline): every subscriber re-reads and re-parses the
              whole events.jsonl every 0.5 s and serialises each event again

    .venv/bin/python benchmarks/sse_load.py [--subscribers 50] [--events 5000] [--seconds 20]

For each: the service's CPU share (of one core) and the p50/p99 of ``GET /v1/tasks?limit=50``
(200 stored tasks) while idle and while the subscribers follow the run; every subscriber must
have received every event. The run is "running": this process holds its lease and appends an
event every 50 ms. The service runs in a subprocess (this file with ``--serve``), the clients
here (aiohttp, one asyncio process). Prints a table and one JSON line. Target: p50 under
20 ms with 50 subscribers. The machine is shared (2 cores): figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class NaiveTail:
    """The baseline stream's reading: per subscriber, the whole file every tick."""

    def __init__(self, run_path: Path) -> None:
        self.run_path, self.events, self.terminal = run_path, [], False

    async def refresh(self) -> None:
        from codealign.runs import read_events, read_state

        self.terminal = read_state(self.run_path).status.terminal
        events = await asyncio.to_thread(read_events, self.run_path, 0)
        self.events = [(int(e["seq"]), str(e["type"]), json.dumps(e)) for e in events]

    def after(self, seq: int):
        return [e for e in self.events if e[0] > seq]


class NaiveTails:
    def of(self, run_path: Path) -> NaiveTail:
        return NaiveTail(run_path)          # one per subscriber: nothing shared


def serve(args) -> None:
    """The service in this process (``--serve``), with the stream's reader chosen by --mode."""
    import uvicorn

    from codealign.service.app import create_app
    from codealign.service.settings import Settings

    app = create_app(Settings(home=args.home, scheduler=False))
    if args.mode == "naive":
        app.state.tails = NaiveTails()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


def preload(home: Path, events: int) -> Path:
    """200 active tasks in the store; a run with `events` events, state running."""
    from codealign.jsonl import write_json
    from codealign.service.store import Database, upgrade
    from codealign.service.store.models import TaskRow, utcnow
    from codealign.tasks import Task

    url = f"sqlite:///{home / 'codealign.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        now = utcnow()
        for i in range(200):
            record = Task(task_id=f"t{i}", prompt="Add.", entry_point="add", tests=f"assert add(1, 2) == {3 + i}\n",
                          reference=f"def add(a, b):\n    return a + b + {i}\n").to_dict()
            s.add(TaskRow(task_id=f"t{i}", content_hash=f"{i:064x}", status="active", source="bench",
                          record=record, created_at=now, updated_at=now))
        s.commit()
    db.close()
    run = home / "runs" / "live"
    run.mkdir(parents=True)
    write_json(run / "config.json", {"name": "live", "evaluation": {"k": [1]}})
    with open(run / "events.jsonl", "w") as f:
        for seq in range(1, events + 1):
            f.write(json.dumps({"seq": seq, "time": "2026-01-01T00:00:00+00:00", "type": "progress",
                                "stage": "execute", "round": 1, "done": seq, "total": events,
                                "label": "executing samples"}) + "\n")
    return run


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(base: str, pid: int, subscribers: int, seconds: float, expected: int) -> dict:
    """Subscribers follow the run; once each has the run's backlog, GET /v1/tasks is sent ten
    times a second for `seconds` (open loop: a request does not wait for the previous one, so
    a stalled service shows as slow requests, not as fewer). Returns the figures."""
    import aiohttp

    received = [0] * subscribers

    async def follow(session, i: int) -> None:
        async with session.get(f"{base}/v1/runs/live/events") as r:
            async for line in r.content:
                if line.startswith(b"id: "):
                    received[i] += 1

    async def timed(session) -> float:
        t = time.perf_counter()
        async with session.get(f"{base}/v1/tasks?limit=50") as r:
            await r.read()
            assert r.status == 200, r.status
        return (time.perf_counter() - t) * 1000

    connector = aiohttp.TCPConnector(limit=subscribers + 50)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        streams = [asyncio.create_task(follow(session, i)) for i in range(subscribers)]
        caught_up = time.perf_counter() + 120
        while min(received, default=expected) < expected and time.perf_counter() < caught_up:
            await asyncio.sleep(0.2)
        backlog = all(n >= expected for n in received)
        cpu0, start = cpu_seconds(pid), time.perf_counter()
        requests = []
        while time.perf_counter() - start < seconds:
            requests.append(asyncio.create_task(timed(session)))
            await asyncio.sleep(0.1)
        latencies = sorted(await asyncio.gather(*requests))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu0
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return {"cpu_share": round(cpu / wall, 3), "tasks_p50_ms": round(statistics.median(latencies), 2),
            "tasks_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2), "requests": len(latencies),
            "all_events_received": backlog}


def bench(mode: str, args) -> dict:
    from codealign.runs.events import EventLog, Progress
    from codealign.runs.state import RunLease, RunStatus, holder_info
    from tests.service.conftest import free_port

    home = Path(tempfile.mkdtemp(prefix=f"codealign-sse-{mode}-"))
    run = preload(home, args.events)
    lease = RunLease(run).acquire()
    lease.update(status=RunStatus.RUNNING, holder=holder_info())
    writing = threading.Event()

    def writer() -> None:                           # the run goes on: one event every 50 ms
        log = EventLog(run)
        while not writing.is_set():
            log.emit(Progress(stage="execute", round=1, done=1, total=1, label="executing samples"))
            time.sleep(0.05)

    port = free_port()
    log = open(home / "service.log", "w")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--mode", mode, "--home", str(home),
                             "--port", str(port)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=log, stderr=subprocess.STDOUT)
    thread = threading.Thread(target=writer, daemon=True)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start: {(home / 'service.log').read_text()[-2000:]}")
            time.sleep(0.2)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        idle = asyncio.run(measure(base, proc.pid, 0, args.seconds / 2, 0))
        loaded = asyncio.run(measure(base, proc.pid, args.subscribers, args.seconds, args.events))
        return {"mode": mode, "idle": idle, "subscribed": loaded}
    finally:
        writing.set()
        proc.terminate()
        proc.wait(60)
        log.close()
        lease.release()
        errors = [line for line in (home / "service.log").read_text().splitlines() if "Error" in line]
        if errors:
            print(f"{mode}: the service logged {len(errors)} error lines, e.g. {errors[0][:300]}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--events", type=int, default=5000, help="events already in the run's log")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--modes", default="naive,shared")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="shared", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    results = {mode: bench(mode, args) for mode in args.modes.split(",")}
    print(f"{args.subscribers} SSE subscribers on a running run ({args.events} events, +20/s); "
          "service CPU share of one core, GET /v1/tasks?limit=50 latency")
    print(f"{'mode':8} {'phase':11} {'cpu':>6} {'p50 ms':>8} {'p99 ms':>8} {'all events':>11}")
    for mode, r in results.items():
        for phase in ("idle", "subscribed"):
            f = r[phase]
            print(f"{mode:8} {phase:11} {f['cpu_share']:6.1%} {f['tasks_p50_ms']:8.2f} {f['tasks_p99_ms']:8.2f} "
                  f"{str(f['all_events_received']) if phase == 'subscribed' else '':>11}")
    if {"naive", "shared"} <= set(results):
        naive, shared = results["naive"]["subscribed"], results["shared"]["subscribed"]
        ratios = {"cpu_naive_over_shared": round(naive["cpu_share"] / max(shared["cpu_share"], 1e-3), 1),
                  "p50_naive_over_shared": round(naive["tasks_p50_ms"] / shared["tasks_p50_ms"], 1)}
        print(f"naive / shared with subscribers: CPU x{ratios['cpu_naive_over_shared']}, "
              f"p50 x{ratios['p50_naive_over_shared']}")
        results["ratios"] = ratios
    print(json.dumps(results))


if __name__ == "__main__":
    main()
