"""The dashboard's view of task intake, in real Chromium against the real service: the
submitted-task list and a task's page show what the API says (status, mutation score,
warnings, the held-out task a near duplicate copies, part by part), and a run's task page
shows why each failing sample failed, a disagreement with the reference (input, both
outputs) marked as such, for as many samples as the API's per-task results count."""

from __future__ import annotations

import httpx
import pytest

from browser_helpers import number, open_view


@pytest.fixture(scope="module")
def submitted(service):
    """Three tasks through the API and validation: a near duplicate of the synthetic run's
    held-out tasks (the same test under another name), one with weak tests, one rejected."""
    from codealign.service.store.keys import create_key
    from codealign.service.store.models import Scope

    with service.app.state.db.session() as session:
        key = create_key(session, Scope.WRITE, "intake pages")
    headers = {"Authorization": f"Bearer {key}"}
    tasks = [{"task_id": "intake/near-dup", "prompt": "Add a and b.", "entry_point": "plus",
              "tests": "assert plus(1, 2) == 3\n", "reference": "def plus(a, b):\n    return a + b\n"},
             {"task_id": "intake/weak", "prompt": "Add a, b and one.", "entry_point": "add",
              "tests": "assert isinstance(add(1, 2), int)\nassert add(0, 0) == 1\n",
              "reference": "def add(a, b):\n    return a + b + 1\n"},
             {"task_id": "intake/rejected", "prompt": "Add a and b.", "entry_point": "add2",
              "tests": "assert add2(2, 2) == 4\n", "reference": "def add2(a, b):\n    return a * b + 1\n"}]
    r = httpx.post(service.url + "/v1/tasks/batch", json={"tasks": tasks}, headers=headers, timeout=60)
    r.raise_for_status()
    from codealign.client import Client

    with Client(service.url, api_key=key) as c:
        return {t["task_id"]: c.wait_task(t["task_id"], timeout=300) for t in tasks}


def test_the_task_list_shows_what_the_api_says(page, service, submitted, artifacts):
    open_view(page, service, "/tasks")
    listed = {t["task_id"]: t for t in service.api("/v1/tasks", limit=100)["items"]}
    rows = page.locator("#tasks-table tbody tr[data-task]")
    assert rows.count() == len(listed) >= 3
    for i in range(rows.count()):
        row = rows.nth(i)
        api = listed[row.get_attribute("data-task")]
        assert row.get_attribute("data-status") == api["status"]
        assert row.get_attribute("data-warnings") == " ".join(w["code"] for w in api["warnings"])
        assert row.get_attribute("data-near-duplicate") == ((api["near_duplicate"] or {}).get("of") or "")
        assert number(row.get_attribute("data-score")) == (api["strength"] or {}).get("score")
    near = page.locator('tr[data-task="intake/near-dup"]')
    assert near.get_attribute("data-warnings") == "near-duplicate"
    assert page.locator('tr[data-task="intake/weak"]').get_attribute("data-warnings") == "weak-tests"
    page.select_option("#status-filter", "rejected")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("body[data-ready]")
    assert [page.locator("#tasks-table tbody tr[data-task]").nth(i).get_attribute("data-status")
            for i in range(page.locator("#tasks-table tbody tr[data-task]").count())] == ["rejected"]
    page.screenshot(path=str(artifacts / "tasks.png"), full_page=True)
    assert page.console.errors == []


def test_a_near_duplicates_page_names_the_held_out_task_part_by_part(page, service, submitted, artifacts):
    api = submitted["intake/near-dup"]
    flag = api["near_duplicate"]
    assert api["status"] == "active" and flag["run"] == "syn" and flag["of"].startswith("syn/")
    open_view(page, service, "/tasks/intake/near-dup")
    shown = page.locator("#near-duplicate")
    assert (shown.get_attribute("data-of"), shown.get_attribute("data-run")) == (flag["of"], flag["run"])
    assert number(shown.get_attribute("data-score")) == flag["score"]
    parts = page.locator("#near-duplicate-parts tbody tr")
    assert {parts.nth(i).get_attribute("data-part"): (number(parts.nth(i).get_attribute("data-ast")),
                                                      number(parts.nth(i).get_attribute("data-shingle")))
            for i in range(parts.count())} == {p: (s["ast"], s["shingle"]) for p, s in flag["parts"].items()}
    assert "kept out of training" in page.locator('.task-warning[data-code="near-duplicate"]').inner_text()
    page.screenshot(path=str(artifacts / "submitted-near-duplicate.png"), full_page=True)
    page.click(f'#near-duplicate a[href="/runs/syn/tasks/{flag["of"]}"]')     # the held-out task itself
    page.wait_for_selector("body[data-ready]")
    assert page.locator("h1 .held").count() == 1
    assert page.console.errors == []


def test_a_weak_tasks_page_shows_its_score_and_surviving_mutants(page, service, submitted):
    api = submitted["intake/weak"]
    open_view(page, service, "/tasks/intake/weak")
    strength = page.locator("#strength")
    assert number(strength.get_attribute("data-score")) == api["strength"]["score"] < 0.95
    assert int(strength.get_attribute("data-killed")) == api["strength"]["killed"]
    assert page.locator("#survivors li").all_inner_texts() == api["strength"]["survivors"]
    assert page.locator('.task-warning[data-code="weak-tests"]').inner_text().endswith(api["warnings"][0]["detail"])
    open_view(page, service, "/tasks/intake/rejected")
    assert page.locator("#task-reason").inner_text() == submitted["intake/rejected"]["reason"]
    assert page.console.errors == []


def test_a_run_task_page_shows_each_failure_and_marks_disagreements(page, service, artifacts):
    from synthetic_run import DISAGREEMENT

    k = 2
    results = service.api(f"/v1/runs/syn/rounds/{k}/tasks")["items"]
    task = next(r for r in results if r["disagreed"] >= 1 and r["side"] == "train")
    open_view(page, service, f"/runs/syn/tasks/{task['task_id']}")
    section = page.locator(f'section.task-round[data-round="{k}"]')
    differential = section.locator('tr[data-differential="1"]')
    assert differential.count() == task["disagreed"]
    assert differential.first.locator(".failure-detail").inner_text() == DISAGREEMENT
    assert differential.first.locator(".badge.differential").inner_text() == "disagrees with the reference"
    failed = section.locator("tr[data-failed-test]")
    assert failed.count() == task["samples"] - task["passed"]               # every failure says why
    page.screenshot(path=str(artifacts / "task-disagreements.png"), full_page=True)
    assert page.console.errors == []
