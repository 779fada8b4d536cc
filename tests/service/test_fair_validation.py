"""Fair validation (issue 18, item 6): two keys' tasks are validated in turn, not one key's
whole queue first; a key whose tasks are slow does not hold another key's task behind all of
them; Retry-After comes from the measured validation rate; an identical resubmission is
answered 200 even when the queue is full. And tests run as written (item 8): a statement the
host does not run itself is run in the sandbox, so `while True: pass` before literal asserts
rejects the task."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from codealign.service.store.keys import create_key
from codealign.service.store.models import Scope, TaskRow
from codealign.service.validation import Throughput, Validator
from tests.service.conftest import LiveService, add_task, make_settings


def pause(service) -> None:
    service.app.state.validator.stop()


def resume(service) -> Validator:
    validator = Validator(service.db(), service.settings)
    service.app.state.validator = validator
    validator.start()
    return validator


def settled_order(service, ids: list[str]) -> list[str]:
    with service.db().session() as s:
        rows = s.scalars(select(TaskRow).where(TaskRow.task_id.in_(ids))).all()
        assert all(r.status == "active" for r in rows), [(r.task_id, r.status, r.reason) for r in rows]
        return [r.task_id for r in sorted(rows, key=lambda r: r.updated_at)]


def wait_settled(client, ids, timeout=300):
    for task_id in ids:
        client.wait_task(task_id, timeout=timeout)


def test_two_keys_validations_interleave(tmp_path, database_url):
    with LiveService(make_settings(tmp_path, database_url, validation_workers=1)) as service:
        with service.db().session() as s:
            a, b = create_key(s, Scope.WRITE, "a"), create_key(s, Scope.WRITE, "b")
        pause(service)                                  # both queues filled before validation starts
        with service.client(a) as ca, service.client(b) as cb:
            ca.submit_batch([add_task(i, task_id=f"a{i}") for i in range(4)])
            cb.submit_batch([add_task(10 + i, task_id=f"b{i}") for i in range(4)])
            resume(service)
            ids = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
            wait_settled(ca, ids)
        order = settled_order(service, ids)
    assert [t[0] for t in order] == ["a", "b"] * 4, order


SLOW_REFERENCE = "import time\n\ndef add(a, b):\n    time.sleep(1.2)\n    return a + b\n"


def test_slow_tasks_of_one_key_do_not_hold_anothers_task_behind_them(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", validation_workers=1)
    with LiveService(settings) as service:
        with service.db().session() as s:
            a, b = create_key(s, Scope.WRITE, "slow"), create_key(s, Scope.WRITE, "quick")
        with service.client(a) as ca, service.client(b) as cb:
            slow = [ca.submit_task({**add_task(i, task_id=f"slow{i}"), "reference": SLOW_REFERENCE.replace(
                "a + b", f"a + b + {i}"), "limits": {"timeout_s": 10, "memory_mb": 256}}) for i in range(2)]
            cb.submit_task(add_task(50, task_id="quick"))
            assert cb.wait_task("quick", timeout=300)["status"] == "active"
            # (The slow tasks' strength takes a while more: mutants of a slow reference are slow.)
            before = [t["task_id"] for t in slow if ca.get_task(t["task_id"])["status"] != "validating"]
    # FIFO would settle both slow tasks first; fair share lets at most one go before.
    assert len(before) <= 1, before


def test_identical_resubmission_is_200_when_the_queue_is_full_and_retry_after_is_measured(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url, validation_queue=3, validation_workers=1)
    with LiveService(settings) as service, service.client() as c:
        for i in range(3):                               # measure the rate on a few real validations
            c.submit_task(add_task(i))
        wait_settled(c, [f"add{i}" for i in range(3)])
        pause(service)
        first = [c.submit_task(add_task(10 + i)) for i in range(3)]               # the queue is full
        again = c.http.post("/v1/tasks", json=add_task(10))
        assert again.status_code == 200 and again.json()["task_id"] == first[0]["task_id"]
        batch = c.http.post("/v1/tasks/batch", json={"tasks": [add_task(11), add_task(12)]})
        assert batch.status_code == 200 and {r["outcome"] for r in batch.json()["results"]} == {"existing"}
        full = c.http.post("/v1/tasks/batch", json={"tasks": [add_task(20), add_task(21), add_task(10)]})
        assert full.status_code == 503
        measured = service.app.state.validator.throughput
        assert measured.rate() is not None
        assert int(full.headers["retry-after"]) == measured.seconds_for(2)     # 2 new over the limit


def test_throughput_turns_the_measured_rate_into_seconds(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    meter = Throughput()
    assert meter.rate() is None and meter.seconds_for(5) == 5          # unmeasured: 1 task/s
    for _ in range(10):
        meter.settled()
        now[0] += 2.0                                                  # one task every 2 s
    assert meter.rate() == pytest.approx(0.5)
    assert meter.seconds_for(30) == 60 and meter.seconds_for(10**9) == 3600
    now[0] += Throughput.WINDOW_S + 1                                  # old measurements expire
    meter.settled()
    assert meter.rate() is None


def test_tests_are_run_as_written(live):
    hostile = {"spins-first": "while True:\n    pass\nassert add(1, 2) == 3\n",
               "spins-last": "assert add(1, 2) == 3\nwhile True:\n    pass\n",
               "exits-in-check": "import sys\ndef check(candidate):\n    assert candidate(1, 2) == 3\nsys.exit(3)\n"}
    with live.client() as c:
        for name, tests in hostile.items():
            c.submit_task(add_task(60, task_id=name, tests=tests, reference="def add(a, b):\n    return a + b\n",
                                   limits={"timeout_s": 2, "memory_mb": 256}))
        for name in hostile:
            task = c.wait_task(name, timeout=120)
            assert task["status"] == "rejected" and "reference does not pass" in task["reason"], (name, task)
