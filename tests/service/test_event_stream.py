"""The event streams read each run's events.jsonl once, incrementally, for every subscriber
(issue 18, item 7): lines are parsed once, a line still being written waits, a replaced file is
read again; many subscribers of one run share one reader. (The cost under 50 subscribers is
measured by benchmarks/sse_load.py, not here.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading

import pytest

from codealign.service.api.eventtail import RunTail
from tests.dashboard.synthetic_run import synthesize_run
from tests.service.conftest import LiveService, make_settings


def _line(seq: int, kind: str = "Progress") -> str:
    return json.dumps({"seq": seq, "time": "t", "type": kind, "done": seq}) + "\n"


def _refresh(tail: RunTail) -> None:
    tail._read_at = float("-inf")          # as if POLL_S had passed
    # a thread of its own: a session fixture (the browser's sync API) may hold this thread's loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, tail.refresh()).result()


def test_the_tail_reads_only_what_was_appended(tmp_path):
    run = synthesize_run(tmp_path / "r", rounds=1, tasks=4)
    events = run / "events.jsonl"
    events.write_text(_line(1) + _line(2) + '{"seq": 3, "ty')           # the writer is mid-line
    tail = RunTail(run)
    _refresh(tail)
    assert [e[0] for e in tail.events] == [1, 2] and tail.terminal      # the synthetic run succeeded
    with open(events, "a") as f:
        f.write('pe": "Progress"}\n' + _line(4))
    _refresh(tail)
    assert [e[0] for e in tail.after(0)] == [1, 2, 3, 4] and [e[0] for e in tail.after(2)] == [3, 4]
    assert json.loads(tail.after(3)[0][2]) == json.loads(_line(4))     # the line as written, whole
    replaced = run / "events.new"
    replaced.write_text(_line(1, "RunStarted"))
    replaced.replace(events)                                            # another inode: read afresh
    _refresh(tail)
    assert [(e[0], e[1]) for e in tail.events] == [(1, "RunStarted")]


@pytest.fixture
def live(tmp_path):
    """The service on SQLite (the streams read run directories, not the store)."""
    with LiveService(make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")) as service:
        yield service


def test_many_subscribers_share_one_read(live, monkeypatch):
    synthesize_run(live.settings.runs_dir / "syn", rounds=1, tasks=4)
    reads = []
    original = RunTail._read
    monkeypatch.setattr(RunTail, "_read", lambda self: (reads.append(1), original(self))[1])
    expected = [json.loads(line) for line in (live.settings.runs_dir / "syn" / "events.jsonl").read_text().splitlines()]
    results: list[list[dict]] = []

    def subscribe():
        with live.client() as c:
            results.append(list(c.events("syn")))

    threads = [threading.Thread(target=subscribe) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20 and all(r == expected for r in results)
    assert len(reads) <= 3                        # one read per POLL_S, whoever asked
    with live.client() as c:
        later = c.http.get("/v1/runs/syn/events", headers={"Last-Event-ID": str(expected[-2]["seq"])})
        assert later.text.count("id: ") == 1 and f"id: {expected[-1]['seq']}" in later.text


def test_an_open_stream_holds_no_database_connection(live, monkeypatch):
    """Open mode asks the store whether a key exists; that must not pin a pooled connection while
    the stream lasts (50 subscribers would exhaust the pool of 40)."""
    import httpx

    from codealign.runs.state import RunLease, RunStatus, holder_info

    held: list[int] = []
    refresh = RunTail.refresh

    async def counting(self):
        held.append(live.db().engine.pool.checkedout())     # inside the streaming response
        await refresh(self)

    monkeypatch.setattr(RunTail, "refresh", counting)
    run = synthesize_run(live.settings.runs_dir / "going", rounds=1, tasks=4)
    lease = RunLease(run).acquire()
    try:
        lease.update(status=RunStatus.RUNNING, holder=holder_info())
        with httpx.stream("GET", f"{live.url}/v1/runs/going/events", timeout=30) as r:
            assert next(r.iter_lines()).startswith("id: ")
    finally:
        lease.release()
    assert held and set(held) == {0}
