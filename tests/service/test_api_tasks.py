"""The tasks API on SQLite and PostgreSQL, over real HTTP: validation in the sandbox,
identical resubmission, batches, cursor paging under concurrent inserts, idempotency,
body and field limits."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from codealign.client import ApiError
from codealign.tasks import Task
from codealign.service.store.models import IdempotencyRecord, TaskRow, TaskTag, utcnow
from tests.service.conftest import LiveService, add_task, make_settings

HOSTILE = {
    "loops-forever": "def add(a, b):\n    while True:\n        pass\n",
    "exits-zero-at-import": "import os\nos._exit(0)\n",
    "forges-a-pass": ("import sys\nprint('PASSED')\nclass Any:\n    def __eq__(self, o):\n        return True\n"
                      "def add(a, b):\n    return Any()\n"),
    "eats-memory": "def add(a, b):\n    x = ' ' * (1 << 40)\n    return a + b\n",
}


def settle(client, task_id: str) -> dict:
    return client.wait_task(task_id, timeout=120)


def test_valid_task_becomes_active(live):
    with live.client() as c:
        created = c.http.post("/v1/tasks", json=add_task(1))
        assert created.status_code == 202
        assert created.headers["location"] == "/v1/tasks/add1"
        assert created.json()["status"] == "validating"
        task = settle(c, "add1")
        assert (task["status"], task["reason"]) == ("active", None)
        assert task["tags"] == ["math", "n1"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_reference_is_rejected_with_the_reason(live, name):
    with live.client() as c:
        task = c.submit_task(add_task(2, task_id=f"hostile-{name}", reference=HOSTILE[name],
                                      limits={"timeout_s": 2, "memory_mb": 256}))
        task = settle(c, task["task_id"])
        assert task["status"] == "rejected"
        assert task["reason"].startswith("the reference does not pass its own tests")


@pytest.mark.parametrize("tests", ["assert True\n", "x = add(1, 2)\n", "assert add(1, 2) is None or True\n"])
def test_tests_that_accept_anything_are_rejected(live, tests):
    with live.client() as c:
        task = settle(c, c.submit_task(add_task(3, tests=tests))["task_id"])
        assert task["status"] == "rejected"
        assert "trivial wrong answer" in task["reason"]


def test_broken_reference_and_malformed_tests_are_rejected(live):
    with live.client() as c:
        broken = c.submit_task(add_task(4, task_id="broken", reference="def add(a, b):\n    return a - b\n"))
        malformed = c.submit_task(add_task(5, task_id="malformed", tests="assert add(1, 2) ==\n"))
        deep = c.submit_task(add_task(6, task_id="deep", tests="assert add(1, 2) == " + "(" * 5000 + "1"
                                      + ")" * 5000 + "\n"))
        broken, malformed, deep = (settle(c, t["task_id"]) for t in (broken, malformed, deep))
    assert broken["status"] == "rejected" and "(failed, 0/2)" in broken["reason"]
    assert malformed["status"] == "rejected" and "tests do not parse" in malformed["reason"]
    assert deep["status"] == "rejected" and deep["reason"].startswith("malformed task")


def test_identical_resubmission_returns_the_existing_task(live):
    with live.client() as c:
        first = c.http.post("/v1/tasks", json=add_task(7, task_id=None))
        again = c.http.post("/v1/tasks", json=add_task(7, task_id=None))
        assert (first.status_code, again.status_code) == (202, 200)
        assert first.json()["task_id"] == again.json()["task_id"]
        assert first.json()["task_id"].startswith("t-")
        other = c.http.post("/v1/tasks", json=add_task(8, task_id=first.json()["task_id"]))
        assert other.status_code == 409
    with live.db().session() as s:
        assert len(s.scalars(select(TaskRow)).all()) == 1


def test_batch_gives_one_result_per_item(live):
    with live.client() as c:
        c.submit_task(add_task(0))
        results = c.submit_batch([add_task(0), add_task(10), add_task(11, prompt="   "),
                                  add_task(12, task_id="add0")])
        assert [r["outcome"] for r in results] == ["existing", "created", "created", "error"]
        assert [r["status"] for r in results] == [200, 202, 202, 409]
        blank = results[2]["task"]                      # refused by the Task record's own checks
        assert blank["status"] == "rejected" and "field prompt" in blank["reason"]
        whole = c.http.post("/v1/tasks/batch", json={"tasks": [add_task(13), add_task(14, entry_point="class")]})
        assert whole.status_code == 422 and whole.json()["errors"][0]["loc"] == "body.tasks.1.entry_point"


def test_paging_has_no_gaps_or_duplicates_under_concurrent_inserts(live):
    """Walk the list 7 at a time while another thread inserts: every task that existed before
    the walk is seen exactly once, and nothing is seen twice."""
    def insert(start: int, count: int) -> list[str]:
        ids = []
        with live.db().session() as s:
            for i in range(start, start + count):
                now = utcnow()
                s.add(TaskRow(task_id=f"p{i}", content_hash=f"{i:064d}", status="active", source="bulk",
                              record=Task(task_id=f"p{i}", prompt="p", entry_point="f", tests="assert f()",
                                          reference="def f():\n    return 1\n").to_dict(), created_at=now, updated_at=now,
                              tags=[TaskTag(tag="even" if i % 2 == 0 else "odd")]))
                s.commit()
                ids.append(f"p{i}")
        return ids

    before = insert(0, 60)
    stop = threading.Event()

    def writer():
        i = 1000
        while not stop.is_set() and i < 1400:
            insert(i, 1)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    try:
        with live.client() as c:
            seen = [t["task_id"] for t in c.iter_tasks(limit=7, source="bulk")]
            evens = [t["task_id"] for t in c.iter_tasks(limit=5, tag="even")]
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)
    assert len(evens) == len(set(evens)) and {f"p{i}" for i in range(0, 60, 2)} <= set(evens)
    assert all(int(t[1:]) % 2 == 0 for t in evens)


def test_idempotency_key_replays_refuses_and_waits(live):
    with live.client() as c:
        headers = {"Idempotency-Key": "k-1"}
        first = c.http.post("/v1/tasks", json=add_task(20), headers=headers)
        replay = c.http.post("/v1/tasks", json=add_task(20), headers=headers)
        assert (first.status_code, replay.status_code) == (202, 202)
        assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == first.headers["location"]
        other = c.http.post("/v1/tasks", json=add_task(21), headers=headers)
        assert other.status_code == 422 and "different request body" in other.json()["detail"]
        # A failed request frees its key: a retry is handled afresh.
        bad = c.http.post("/v1/tasks", json=add_task(23, task_id="add20"), headers={"Idempotency-Key": "k-2"})
        assert bad.status_code == 409
        with live.db().session() as s:
            assert s.get(IdempotencyRecord, ("open", "POST /v1/tasks", "k-2")) is None


def test_in_progress_key_is_409(live):
    from codealign.service.api.idempotency import Idempotency
    from codealign.service.api.schemas import TaskCreate

    body = add_task(24)
    idem = Idempotency(live.db(), "open", "POST /v1/tasks", "k-3",
                       TaskCreate.model_validate(body).model_dump(mode="json"))
    assert idem.begin() is None        # claimed, not finished
    with live.client() as c:
        assert c.http.post("/v1/tasks", json=body, headers={"Idempotency-Key": "k-3"}).status_code == 409


def test_problem_json_for_bad_input_and_limits(live):
    with live.client() as c:
        missing = c.http.post("/v1/tasks", json={k: v for k, v in add_task(1).items() if k != "prompt"})
        assert missing.status_code == 422
        assert missing.headers["content-type"] == "application/problem+json"
        assert {"loc": "body.prompt", "msg": "Field required"} in missing.json()["errors"]
        long = c.http.post("/v1/tasks", json=add_task(1, prompt="x" * 40_000))
        assert long.status_code == 422 and long.json()["errors"][0]["loc"] == "body.prompt"
        nested = c.http.post("/v1/tasks", json=add_task(1, limits={"timeout_s": 1e9}))
        assert nested.json()["errors"][0]["loc"] == "body.limits.timeout_s"
        too_many = c.http.post("/v1/tasks/batch", json={"tasks": [add_task(i) for i in range(101)]})
        assert too_many.status_code == 422 and too_many.json()["errors"][0]["loc"] == "body.tasks"
        for field, value in (("prompt", "a\x00b"), ("tests", "\ud800"), ("tags", ["x" * 129])):
            bad = c.http.post("/v1/tasks", content=json.dumps(add_task(1, **{field: value})),
                              headers={"content-type": "application/json"})    # \ud800 as an escape
            assert bad.status_code == 422 and bad.json()["errors"][0]["loc"].startswith(f"body.{field}")
        assert c.http.get("/v1/tasks", params={"tag": "a\x00"}).status_code == 422
        garbage = c.http.post("/v1/tasks", content=b"{not json", headers={"content-type": "application/json"})
        assert garbage.status_code == 422
        big = c.http.post("/v1/tasks", content=b" " * (5 << 20), headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["status"] == 413

        def chunks():                    # no Content-Length: counted as it streams
            for _ in range(80):
                yield b" " * 65536

        streamed = c.http.post("/v1/tasks", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.http.get("/v1/tasks", params={"limit": 1000}).status_code == 422
        assert c.http.get("/v1/tasks/nope").status_code == 404
        assert c.http.get("/v1/nothing").json()["status"] == 404


def test_full_validation_queue_is_503_with_retry_after(tmp_path, database_url):
    with LiveService(make_settings(tmp_path, database_url, validation_queue=2)) as service, \
            service.client() as c:
        response = c.http.post("/v1/tasks/batch", json={"tasks": [add_task(i) for i in range(3)]})
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        with pytest.raises(ApiError) as info:
            c.submit_batch([add_task(i) for i in range(3)], retry_busy_s=0)
        assert info.value.status == 503


def test_retire_is_soft(live):
    with live.client() as c:
        c.submit_task(add_task(30))
        settle(c, "add30")
        retired = c.retire_task("add30")
        assert retired["status"] == "retired"
        assert c.get_task("add30")["reference"] == add_task(30)["reference"]
        assert [t["task_id"] for t in c.iter_tasks(status="retired")] == ["add30"]
        assert c.http.delete("/v1/tasks/none").status_code == 404


def test_unreachable_service_is_a_clear_error():
    from codealign.client import Client, ServiceUnreachable

    with Client("http://127.0.0.1:9", api_key="") as c, pytest.raises(ServiceUnreachable):
        c.health()
