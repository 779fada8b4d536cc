"""Task intake on SQLite and PostgreSQL, over real HTTP (issue 22 item 3, issue 19 item 4):
an exact duplicate of a known task is refused with the id it duplicates (409), also when
submitted concurrently and inside a batch; a near duplicate of a task held out in one of the
service's runs is accepted but flagged, and a run made from the store's tasks leaves it out of
its train side and says why; a distinct task is accepted unflagged; tests that kill too few
mutants of their reference get the `weak-tests` warning, or the task is rejected when the
service is strict; the upgrade from revision 0003 keeps the tasks and gives them their keys."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from codealign.client import task_payload
from codealign.service.store import Database, upgrade
from codealign.service.store.models import TaskRow
from codealign.tasks import Task, load_bank
from codealign.tasks.similarity import content_key
from tests.service.conftest import ROOT, LiveService, add_task, make_settings, write_operator_recipes

# Tasks of an earlier run (one of them ends up held out), each with a lightly edited copy:
# renamed function and parameters, reworded prompt, reordered tests.
PRIOR = {
    "prior/maximum": (
        ("Return the largest element of a non-empty list of numbers.", "maximum",
         "def maximum(xs):\n    best = xs[0]\n    for x in xs[1:]:\n        if x > best:\n            best = x\n    return best\n",
         "assert maximum([1, 5, 3]) == 5\nassert maximum([-2, -7]) == -2\nassert maximum([4]) == 4\n"),
        ("Give back the biggest number of the given (non-empty) list.", "largest",
         "def largest(values):\n    top = values[0]\n    for v in values[1:]:\n        if v > top:\n            top = v\n    return top\n",
         "assert largest([4]) == 4\nassert largest([1, 5, 3]) == 5\nassert largest([-2, -7]) == -2\n")),
    "prior/vowels": (
        ("Count the vowels (a, e, i, o, u) of a lowercase string.", "count_vowels",
         "def count_vowels(s):\n    return sum(1 for c in s if c in 'aeiou')\n",
         "assert count_vowels('hello') == 2\nassert count_vowels('xyz') == 0\nassert count_vowels('aeiou') == 5\n"),
        ("How many of the letters of a lowercase word are vowels?", "vowel_count",
         "def vowel_count(word):\n    return sum(1 for ch in word if ch in 'aeiou')\n",
         "assert vowel_count('aeiou') == 5\nassert vowel_count('hello') == 2\nassert vowel_count('xyz') == 0\n")),
    "prior/palindrome": (
        ("Whether a string reads the same backwards.", "is_palindrome",
         "def is_palindrome(s):\n    return s == s[::-1]\n",
         "assert is_palindrome('racecar') is True\nassert is_palindrome('ab') is False\nassert is_palindrome('') is True\n"),
        ("Tell if the text is equal to its reverse.", "same_backwards",
         "def same_backwards(text):\n    return text == text[::-1]\n",
         "assert same_backwards('') is True\nassert same_backwards('racecar') is True\nassert same_backwards('ab') is False\n")),
    "prior/factorial": (
        ("Return n! for an integer n >= 0.", "factorial",
         "def factorial(n):\n    out = 1\n    for k in range(2, n + 1):\n        out *= k\n    return out\n",
         "assert factorial(0) == 1\nassert factorial(5) == 120\nassert factorial(3) == 6\n"),
        ("The product 1 * 2 * ... * m (1 for m = 0).", "fact",
         "def fact(m):\n    acc = 1\n    for j in range(2, m + 1):\n        acc *= j\n    return acc\n",
         "assert fact(5) == 120\nassert fact(3) == 6\nassert fact(0) == 1\n")),
}


def _task(task_id: str, spec) -> dict:
    prompt, entry, reference, tests = spec
    return {"task_id": task_id, "prompt": prompt, "entry_point": entry, "tests": tests, "reference": reference}


def _problem(response) -> dict:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.json()


def test_an_exact_duplicate_is_refused_with_the_id_it_duplicates(live):
    with live.client() as c:
        assert c.http.post("/v1/tasks", json=add_task(1)).status_code == 202
        # Reformatted, commented, another id, other tags and limits: the same task.
        copy = {**add_task(1), "task_id": "copy1", "tags": ["other"], "limits": {"timeout_s": 5, "memory_mb": 512},
                "tests": "assert add(1,2)==4  # the same test\nassert add(0, 0) == 1\n"}
        refused = c.http.post("/v1/tasks", json=copy)
        assert refused.status_code == 409
        problem = _problem(refused)
        assert problem["duplicate_of"] == "add1" and problem["title"] == "Duplicate task"
        assert "exact duplicate of the stored task 'add1'" in problem["detail"]
        assert c.http.get("/v1/tasks/copy1").status_code == 404                  # nothing stored
        assert c.http.post("/v1/tasks", json=add_task(1)).status_code == 200     # itself: not a duplicate
        items = c.http.post("/v1/tasks/batch", json={"tasks": [copy, add_task(2)]}).json()["results"]
        assert [(i["status"], i["duplicate_of"]) for i in items] == [(409, "add1"), (202, None)]
        # A task of a named task set the service knows (the bank), under another id.
        bank = load_bank()[0]
        named = c.http.post("/v1/tasks", json=task_payload(Task(**{**bank.to_dict(), "task_id": "mine/1"})))
        assert named.status_code == 409 and _problem(named)["duplicate_of"] == bank.task_id
        # A rejected task is no obstacle: its corrected resubmission (here: other limits) is taken.
        broken = {**add_task(3, task_id="broken"), "reference": "def add(a, b):\n    return a - b\n"}
        assert c.wait_task(c.submit_task(broken)["task_id"])["status"] == "rejected"
        again = c.http.post("/v1/tasks", json={**broken, "task_id": "broken2", "limits": {"timeout_s": 3}})
        assert again.status_code == 202


def test_concurrent_exact_duplicates_store_one_task(live):
    answers: list[int] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        with live.client() as c:
            status = c.http.post("/v1/tasks", json={**add_task(9), "task_id": f"race{i}"}).status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [202] + [409] * 7
    with live.db().session() as s:
        assert len(s.scalars(select(TaskRow).where(TaskRow.task_id.like("race%"))).all()) == 1


@pytest.fixture
def service(tmp_path, database_url):
    """A service over the operator's recipes, with run `prior` made from `PRIOR` (not executed:
    its split is what counts)."""
    from codealign.runs import create_run
    from codealign.service.recipes import load_recipe, recipe_path

    configs = write_operator_recipes(tmp_path / "configs", tmp_path)
    settings = make_settings(tmp_path, database_url, configs_dir=configs)
    config = load_recipe(recipe_path(settings, "tiny"), run_dir=settings.runs_dir, run_name="prior")
    create_run(config, tasks=[Task(**_task(tid, original), prompt_style="text") for tid, (original, _) in PRIOR.items()])
    with LiveService(settings) as live:
        live.config = config
        yield live


def test_a_near_duplicate_of_a_held_out_task_is_flagged_and_never_trained_on(service):
    split = json.loads((service.settings.runs_dir / "prior" / "split.json").read_text())
    held = split["heldout"][0]
    distinct = [add_task(i) for i in range(1, 4)]
    # The copy's id: one that the new run's split would put on the train side.
    copy_id = next(f"copy-{n}" for n in range(200) if f"copy-{n}" in service.config.evaluation.split(
        [Task.from_dict({**t, "tags": ()}) for t in distinct] + [Task.from_dict(_task(f"copy-{n}", PRIOR[held][1]))])[0])
    with service.client() as c:
        c.submit_batch(distinct + [_task(copy_id, PRIOR[held][1])])
        copy = c.wait_task(copy_id)
        others = [c.wait_task(t["task_id"]) for t in distinct]
        assert copy["status"] == "active"                        # flagged, not rejected
        flag = copy["near_duplicate"]
        assert (flag["of"], flag["run"], flag["exact"]) == (held, "prior", False)
        assert flag["parts"]["tests"]["ast"] == 1.0 and flag["score"] >= 0.5
        assert [w["code"] for w in copy["warnings"]] == ["near-duplicate"]
        assert "kept out of training" in copy["warnings"][0]["detail"]
        for t in others:                                         # distinct tasks: accepted, unflagged
            assert (t["status"], t["near_duplicate"], t["warnings"]) == ("active", None, [])
        listed = {t["task_id"]: t for t in c.list_tasks()["items"]}
        assert listed[copy_id]["near_duplicate"] == flag
        run = c.start_run("tiny", name="from-store", tasks="active")
    split = json.loads((service.settings.runs_dir / run["name"] / "split.json").read_text())
    assert copy_id not in split["train"] + split["heldout"]
    assert split["kept_out"] == {copy_id: f"near duplicate of held-out task {held} (run prior, "
                                          f"similarity {flag['score']:.2f})"}
    assert set(split["train"]) == {t["task_id"] for t in distinct} - set(split["heldout"])
    snapshot = [json.loads(line)["task_id"] for line in
                (service.settings.runs_dir / run["name"] / "tasks.jsonl").read_text().splitlines()]
    assert copy_id in snapshot                                   # the run keeps what it was given


WEAK = {**add_task(70, task_id="weak"), "tests": "assert isinstance(add(1, 2), int)\nassert add(0, 0) == 70\n"}
WEAKER = {**add_task(71, task_id="weaker"), "tests": "assert isinstance(add(1, 2), int)\n"}


def test_weak_tests_are_accepted_with_a_warning(live):
    with live.client() as c:
        c.submit_batch([WEAK, add_task(72, task_id="strong")])
        weak, strong = c.wait_task("weak"), c.wait_task("strong")
    assert weak["status"] == "active"
    s = weak["strength"]
    assert s["score"] < 0.95 and s["killed"] < s["mutants"] - s["likely_equivalent"]
    assert "line 2: `+` -> `-`" in s["survivors"]                # a - b + 70 passes both tests
    assert [w["code"] for w in weak["warnings"]] == ["weak-tests"]
    assert weak["warnings"][0]["detail"].startswith("weak-tests: the tests kill")
    assert (strong["status"], strong["warnings"], strong["strength"]["score"]) == ("active", [], 1.0)


def test_a_strict_service_rejects_weak_tests_by_its_threshold(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", strict_tests=True,
                             weak_tests_threshold=0.75, validation_mutants=8)
    with LiveService(settings) as service, service.client() as c:
        c.submit_batch([WEAK, WEAKER])
        weak, weaker = c.wait_task("weak"), c.wait_task("weaker")
        intake = c.info()["intake"]
    assert (intake["strict_tests"], intake["weak_tests_threshold"], intake["validation_mutants"]) == (True, 0.75, 8)
    assert (weak["status"], weak["warnings"]) == ("active", [])           # 0.8 >= 0.75
    assert weaker["status"] == "rejected" and weaker["strength"]["mutants"] <= 8
    assert weaker["reason"].startswith("weak-tests: the tests kill") and "rejects weak tests" in weaker["reason"]


def test_upgrade_from_0003_keeps_tasks_and_gives_them_their_keys(database_url):
    from codealign.service.intake import fill_content_keys

    upgrade(database_url, "0003")
    db = Database(database_url)
    record = {"task_id": "old", **{k: v for k, v in add_task(1).items() if k not in ("task_id", "tags")},
              "prompt_style": "text", "setup": "", "perf_inputs": [], "tags": [], "timeout_s": 10.0,
              "memory_mb": 1024, "source": "api"}
    try:
        with db.engine.begin() as conn:
            for task_id, digest, status in (("old", "h1", "active"), ("old-copy", "h2", "active"),
                                            ("old-rejected", "h3", "rejected")):
                conn.execute(text("INSERT INTO tasks (task_id, content_hash, status, source, owner, record, "
                                  "created_at, updated_at) VALUES (:id, :h, :s, 'api', 'open', :r, "
                                  "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                             {"id": task_id, "h": digest, "s": status, "r": json.dumps({**record, "task_id": task_id})})
        upgrade(database_url, "0004_task_intake")
        columns = {c["name"] for c in inspect(db.engine).get_columns("tasks")}
        assert {"content_key", "near_duplicate", "leak_index", "strength", "warnings"} <= columns
        assert fill_content_keys(db) == 2          # the older of two exact copies keeps the key
        key = content_key(Task.from_dict(record))
        with db.session() as s:
            keys = dict(s.execute(select(TaskRow.task_id, TaskRow.content_key)).all())
        assert keys == {"old": key, "old-copy": None, "old-rejected": key}
        with pytest.raises(IntegrityError):        # two tasks not rejected never share a key
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE tasks SET content_key = :k WHERE task_id = 'old-copy'"), {"k": key})
        from alembic import command

        from codealign.service.store.db import alembic_config

        db.engine.dispose()
        command.downgrade(alembic_config(database_url), "0003")            # and back
        assert "content_key" not in {c["name"] for c in inspect(db.engine).get_columns("tasks")}
    finally:
        db.close()


def test_per_task_results_show_disagreements_and_a_run_error_names_no_server_path(tmp_path):
    """Differential testing's reasons in the API's per-task results (synthetic run: every other
    failing sample disagrees with the reference); a failed run's error without server paths."""
    from tests.dashboard.synthetic_run import DISAGREEMENT, synthesize_run

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    run = synthesize_run(settings.runs_dir / "syn", rounds=2, tasks=12, seed=2)
    state = json.loads((run / "state.json").read_text())
    error = (f"InputError: {run / 'tasks.jsonl'}:3: bad line; model /srv/models/tiny/config.json missing "
             f"(see /v1/runs/syn); {ROOT / 'codealign' / 'config.py'}")
    (run / "state.json").write_text(json.dumps({**state, "status": "failed", "error": error}))
    with LiveService(settings) as service, service.client() as c:
        items = c.task_results("syn", 2)
        got = c.get_run("syn")["error"]
    flagged = [i for i in items if i["disagreed"]]
    assert flagged and all(d["detail"] == DISAGREEMENT and d["test"] == "diff[0]"
                           for i in flagged for d in i["disagreements"])
    assert {i["side"] for i in flagged} == {"train", "heldout"}
    assert got == ("InputError: <runs>/syn/tasks.jsonl:3: bad line; model <path>/config.json missing "
                   "(see /v1/runs/syn); <codealign>/config.py")
