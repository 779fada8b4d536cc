"""The review queue in real Chromium against the real service: the queue loads, one pair shows
what decided it, a reviewer with a write key disagrees through the form (no script: the CSP
allows none inline), the API then shows the review and the exclusion, and the agreement page's
figures move and equal the API's. A read key sees the pairs but no form; a post from another
origin is refused."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from browser_helpers import Console, log_in, number, open_view


@pytest.fixture(scope="module")
def write_key(service):
    from codealign.service.store.keys import create_key
    from codealign.service.store.models import Scope

    with service.app.state.db.session() as session:
        return create_key(session, Scope.WRITE, "reviewer")


@pytest.fixture
def reviewer(browser, service, write_key):
    """A browser context logged in with the write key."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.console = Console(pg)
    log_in(pg, service, write_key)
    yield pg
    context.close()


def test_the_queue_loads_and_a_read_key_sees_no_form(page, service, artifacts):
    open_view(page, service, "/reviews?run=syn&state=all")
    rows = page.locator("#queue tbody tr[data-item]")
    api = service.api("/v1/reviews/queue", run="syn", state="all", limit=50)["items"]
    assert rows.count() == len(api) > 0
    assert [rows.nth(i).get_attribute("data-pair") for i in range(rows.count())] == [i["pair_id"] for i in api]
    assert {rows.nth(i).get_attribute("data-reason") for i in range(rows.count())} <= \
        {"correctness", "efficiency", "security", "maintainability"}
    page.screenshot(path=str(artifacts / "reviews.png"), full_page=True)
    page.click(f"#queue tr[data-item='{api[0]['id']}'] a")
    page.wait_for_selector("#review-item")
    assert page.locator("#review-needs-write").is_visible() and page.locator("#review-form").count() == 0
    chosen = service.api(f"/v1/reviews/queue/{api[0]['id']}")["pair"]["chosen"].strip()
    assert page.locator("#side-chosen pre.code").inner_text().strip().endswith(chosen)
    assert page.locator("#item-tests").inner_text().startswith("assert ")
    assert page.locator("#strengthened-none").is_visible()
    assert page.locator("#provenance").count() == 1
    assert page.console.errors == []


def test_a_disagree_through_the_form_excludes_the_pair_and_moves_the_agreement(reviewer, service, write_key,
                                                                             artifacts):
    open_view(reviewer, service, "/reviews?run=syn&reason=correctness")
    first = reviewer.locator("#queue tbody tr[data-item]").first
    item, pair_id = first.get_attribute("data-item"), first.get_attribute("data-pair")
    before = service.api("/v1/reviews/agreement")["items"][0]["votes"]
    first.locator("a").click()
    reviewer.wait_for_selector("#review-form")
    reviewer.fill("#review-form textarea[name=comment]", "the rejected program is the better one")
    with reviewer.expect_navigation():
        reviewer.click("#verdict-disagree")
    reviewer.wait_for_selector("#review-saved[data-verdict='disagree']")
    assert reviewer.url == f"{service.url}/reviews/{item}?saved=disagree"
    section = reviewer.locator("#review-item")
    assert section.get_attribute("data-excluded") == "1" and section.get_attribute("data-disagree") == "1"
    mine = reviewer.locator("#reviews tbody tr[data-verdict='disagree']")
    assert mine.count() == 1 and mine.get_attribute("data-owner") == f"key:{write_key.split('_')[1]}"
    reviewer.screenshot(path=str(artifacts / "review-item.png"), full_page=True)

    detail = service.api(f"/v1/reviews/queue/{item}")
    assert [(r["verdict"], r["comment"]) for r in detail["reviews"]] == [
        ("disagree", "the rejected program is the better one")]
    assert pair_id in service.api("/v1/reviews/exclusions")["pair_ids"]

    open_view(reviewer, service, "/reviews/agreement")
    row = reviewer.locator("#agreement tr[data-reason='correctness']")
    after = service.api("/v1/reviews/agreement")["items"][0]["votes"]
    assert after["disagree"] == before["disagree"] + 1
    assert int(row.get_attribute("data-disagree")) == after["disagree"]
    assert int(row.get_attribute("data-agree")) == after["agree"]
    assert number(row.get_attribute("data-rate")) == after["rate"]["value"]
    assert number(row.get_attribute("data-low")) == after["rate"]["low"]
    assert number(row.get_attribute("data-high")) == after["rate"]["high"]
    assert reviewer.locator(".chart[data-ready='1']").count() == 4
    reviewer.screenshot(path=str(artifacts / "review-agreement.png"), full_page=True)

    # the reviewer changes their mind: agree, and the rate moves again
    open_view(reviewer, service, f"/reviews/{item}")
    with reviewer.expect_navigation():
        reviewer.click("#verdict-agree")
    reviewer.wait_for_selector("#review-saved[data-verdict='agree']")
    assert pair_id not in service.api("/v1/reviews/exclusions")["pair_ids"]
    again = service.api("/v1/reviews/agreement")["items"][0]["votes"]
    assert (again["agree"], again["disagree"]) == (after["agree"] + 1, after["disagree"] - 1)
    open_view(reviewer, service, "/reviews/agreement")
    assert int(reviewer.locator("#agreement tr[data-reason='correctness']").get_attribute("data-agree")) == again["agree"]
    assert reviewer.console.errors == []


def test_a_review_from_another_origin_or_a_read_key_is_refused(service, write_key):
    item = service.api("/v1/reviews/queue", state="all", limit=1)["items"][0]["id"]
    url = f"{service.url}/reviews/{item}"
    cookie = {"codealign_session": write_key}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        evil = httpx.post(url, data={"verdict": "disagree", "comment": "evil"}, cookies=cookie, headers=headers)
        assert evil.status_code == 403 and "this site's own page" in evil.text
    read = httpx.post(url, data={"verdict": "disagree"}, cookies={"codealign_session": service.key})
    assert read.status_code == 403
    assert httpx.post(url, data={"verdict": "maybe"}, cookies=cookie).status_code == 422
    assert not [r for r in service.api(f"/v1/reviews/queue/{item}")["reviews"] if r["comment"] == "evil"]
    assert service.api(f"/v1/reviews/queue/{item}")["disagree"] == 0


def _wait(predicate, timeout: float = 900.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)
    return value


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_a_pair_disagreed_with_in_the_browser_is_not_in_the_next_rounds_training_set(
        reviewer, service, write_key, tmp_path_factory, monkeypatch):
    """A real run started through the API (round 1 on the seeded tiny policy, in a run worker);
    its pairs reach the queue when the worker exits; the reviewer disagrees with the
    correctness pairs and agrees with the rest in the browser; the run is resumed to round 2
    through the API: the judge makes disagreed pairs again, and round 2's training set
    (round-2/train/pairs.jsonl) holds none of them, but the agreed ones it made again."""
    from seeded_policy import seeded_policy, write_recipe

    monkeypatch.setenv("OMP_NUM_THREADS", "1")          # the workers' torch: one thread on 2 cores
    configs = service.settings.configs_dir
    configs.mkdir(parents=True, exist_ok=True)
    write_recipe(configs, seeded_policy(tmp_path_factory.getbasetemp()), rounds=1, name="rv")
    api = httpx.Client(base_url=service.url, timeout=60, headers={"Authorization": f"Bearer {write_key}"})
    started = api.post("/v1/runs", json={"config": "rv", "name": "rv"})
    assert started.status_code == 202, started.text
    _wait(lambda: api.get("/v1/runs/rv").json()["status"] in ("succeeded", "failed"))
    assert api.get("/v1/runs/rv").json()["status"] == "succeeded"
    queue = _wait(lambda: api.get("/v1/reviews/queue", params={"run": "rv"}).json()["items"], timeout=120)

    open_view(reviewer, service, "/reviews?run=rv")
    assert reviewer.locator("#queue tbody tr[data-item]").count() == len(queue)
    disagreed, agreed = set(), set()
    for item in queue:
        verdict = "disagree" if item["reason"] == "correctness" else "agree"
        open_view(reviewer, service, f"/reviews/{item['id']}")
        with reviewer.expect_navigation():
            reviewer.click(f"#verdict-{verdict}")
        reviewer.wait_for_selector(f"#review-saved[data-verdict='{verdict}']")
        (disagreed if verdict == "disagree" else agreed).add(item["pair_id"])
    assert disagreed, queue
    assert set(api.get("/v1/reviews/exclusions").json()["pair_ids"]) >= disagreed
    open_view(reviewer, service, "/reviews/agreement?run=rv")
    row = reviewer.locator("#agreement tr[data-reason='correctness']")
    assert int(row.get_attribute("data-disagree")) == len(disagreed) and number(row.get_attribute("data-rate")) == 0.0

    resumed = api.post("/v1/runs/rv/resume", json={"rounds": 2})
    assert resumed.status_code == 202, resumed.text
    _wait(lambda: api.get("/v1/runs/rv").json()["status"] in ("succeeded", "failed"))
    assert api.get("/v1/runs/rv").json()["status"] == "succeeded"
    run = service.runs_dir / "rv"
    made = {p["pair_id"] for p in _lines(run / "round-2/judge/pairs.jsonl")}
    trained = {p["pair_id"] for p in _lines(run / "round-2/train/pairs.jsonl")}
    again = made & disagreed
    assert again, "round 2 made none of the disagreed pairs again: nothing to show"
    assert not trained & disagreed
    assert trained == made - disagreed - (made & set(api.get("/v1/reviews/exclusions").json()["pair_ids"]))
    assert made & agreed <= trained
    manifest = json.loads((run / "round-2/train/manifest.json").read_text())
    assert set(manifest["inputs"]["excluded"]) == again
    assert "excluded" not in json.loads((run / "round-1/train/manifest.json").read_text())["inputs"]
