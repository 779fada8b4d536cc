"""The review queue through the API, on SQLite and PostgreSQL: each decided round's pairs are
drawn into it (stratified by reason, once), reviews need a write key and are attributed to it,
a disagree excludes the pair (the list reaches every unfinished run's exclusions.json at once),
and each judge's agreement rate is reported with its Wilson interval, per reason and round."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import httpx
import pytest

from codealign.jsonl import write_json
from codealign.records import PairRow
from codealign.runs.exclusions import EXCLUSIONS_FILE, read_exclusions
from codealign.service.reviews import draw
from codealign.trainer.stats import wilson
from codealign.service.store.models import Scope
from tests.service.conftest import LiveService, make_settings

PER_REASON = 2


@pytest.fixture
def reviewed(tmp_path, database_url):
    """A service over two synthetic runs (``syn`` finished, ``live`` interrupted), with a read,
    a write and an admin key."""
    from codealign.service.store.keys import create_key
    from tests.dashboard.synthetic_run import synthesize_run

    settings = make_settings(tmp_path, database_url, review_per_reason=PER_REASON)
    synthesize_run(settings.runs_dir / "syn", rounds=3, tasks=24, seed=2)
    live = synthesize_run(settings.runs_dir / "live", rounds=2, tasks=12, seed=3)
    state = json.loads((live / "state.json").read_text())
    write_json(live / "state.json", state | {"status": "interrupted", "finished_at": None})
    with LiveService(settings) as service:
        with service.db().session() as session:
            service.keys = {scope: create_key(session, scope, scope.value) for scope in Scope}
        yield service


def _http(service, scope):
    return httpx.Client(base_url=service.url, timeout=30,
                        headers={"Authorization": f"Bearer {service.keys[Scope(scope)]}"})


def _pairs(run, k) -> list[PairRow]:
    """Round k's pairs, the first of equal ones (the synthetic rounds repeat some)."""
    rows = [PairRow.from_dict(json.loads(line)) for line in (run / f"round-{k}/judge/pairs.jsonl").read_text().splitlines()]
    return [p for i, p in enumerate(rows) if p.id not in {q.id for q in rows[:i]}]


def _queue(c, **params) -> list[dict]:
    items, after = [], None
    while True:
        page = c.get("/v1/reviews/queue", params=params | ({"after": after} if after else {})).json()
        items += page["items"]
        if not page["has_more"]:
            return items
        after = page["next"]


def test_each_round_draws_a_stratified_sample_once(reviewed):
    runs = reviewed.settings.runs_dir
    with _http(reviewed, "read") as c:
        items = _queue(c, state="all", limit=7)
        assert items and all(i["agree"] == i["disagree"] == i["skip"] == 0 for i in items)
        for run, rounds in (("syn", 3), ("live", 2)):
            for k in range(1, rounds + 1):
                mine = [i for i in items if (i["run"], i["round"]) == (run, k)]
                # the seeded draw, among the pairs not queued by an earlier round (the synthetic
                # rounds make some of the same pairs again)
                queued_before = {i["pair_id"] for i in items if i["id"] < min(x["id"] for x in mine)}
                available = [p for p in _pairs(runs / run, k) if p.id not in queued_before]
                by_reason = Counter(p.reason for p in available)
                assert Counter(i["reason"] for i in mine) == {r: min(n, PER_REASON) for r, n in by_reason.items()}
                assert [i["pair_id"] for i in mine] == [p.id for p in draw(available, PER_REASON, f"{run}:{k}")]
        assert len({i["pair_id"] for i in items}) == len(items)          # a pair is queued once
        assert _queue(c, reason="security") == [i for i in items if i["reason"] == "security"]
        assert _queue(c, run="live", state="all") == [i for i in items if i["run"] == "live"]
        assert c.get("/v1/reviews/queue", params={"reason": "speed"}).status_code == 422
    # drawing happens once per round: re-indexing (a restart) adds nothing
    from codealign.service.runindex import refresh_all

    refresh_all(reviewed.db(), runs, PER_REASON)
    with _http(reviewed, "read") as c:
        assert _queue(c, state="all", limit=100) == items


def test_reviews_need_a_write_key_and_are_the_keys(reviewed):
    with _http(reviewed, "read") as reader, _http(reviewed, "write") as writer:
        item = _queue(reader)[0]
        url = f"/v1/reviews/queue/{item['id']}"
        assert reader.post(url, json={"verdict": "agree"}).status_code == 403
        assert httpx.post(reviewed.url + url, json={"verdict": "agree"}).status_code == 401
        assert writer.post(url, json={"verdict": "maybe"}).status_code == 422
        assert writer.post(url, json={"verdict": "agree", "comment": "x" * 4001}).status_code == 422
        assert writer.post("/v1/reviews/queue/999999", json={"verdict": "agree"}).status_code == 404
        first = writer.post(url, json={"verdict": "agree", "comment": "clearly better"})
        assert first.status_code == 201, first.text
        prefix = reviewed.keys[Scope.WRITE].split("_")[1]
        assert first.json()["owner"] == f"key:{prefix}" and first.json()["comment"] == "clearly better"
        again = writer.post(url, json={"verdict": "skip"})
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        detail = reader.get(url).json()
        assert [(r["owner"], r["verdict"], r["comment"]) for r in detail["reviews"]] == [(f"key:{prefix}", "skip", "")]
        assert (detail["agree"], detail["skip"]) == (0, 1)
        assert item["id"] not in [i["id"] for i in _queue(reader)]                       # no longer pending
        assert item["id"] in [i["id"] for i in _queue(reader, state="reviewed")]
        assert reader.get("/v1/reviews", params={"owner": f"key:{prefix}"}).json()["items"][0]["verdict"] == "skip"


def test_a_disagree_excludes_the_pair_in_every_unfinished_run(reviewed):
    runs = reviewed.settings.runs_dir
    with _http(reviewed, "read") as reader, _http(reviewed, "write") as writer, _http(reviewed, "admin") as admin:
        items = _queue(reader, run="syn")
        target = items[0]
        assert writer.post(f"/v1/reviews/queue/{target['id']}", json={"verdict": "disagree",
                                                                        "comment": "the rejected one is fine"}).status_code == 201
        assert admin.post(f"/v1/reviews/queue/{target['id']}", json={"verdict": "agree"}).status_code == 201
        assert reader.get("/v1/reviews/exclusions").json() == {"pair_ids": [target["pair_id"]], "count": 1}
        assert read_exclusions(runs / "live") == {target["pair_id"]}                     # unfinished: written
        assert not (runs / "syn" / EXCLUSIONS_FILE).exists()                             # finished: at its next start
        shown = reader.get(f"/v1/reviews/queue/{target['id']}").json()
        assert shown["excluded"] and (shown["agree"], shown["disagree"]) == (1, 1)
        # the reviewer changes their mind: the pair may train again
        assert writer.post(f"/v1/reviews/queue/{target['id']}", json={"verdict": "agree"}).status_code == 200
        assert reader.get("/v1/reviews/exclusions").json()["count"] == 0
        assert read_exclusions(runs / "live") == frozenset()


def test_agreement_rates_per_reason_and_round_with_wilson_intervals(reviewed):
    with _http(reviewed, "read") as reader, _http(reviewed, "write") as writer:
        items = _queue(reader, reason="correctness")
        assert len(items) >= 3
        verdicts = ["agree", "agree", "disagree", "skip"][:len(items)]
        for item, verdict in zip(items, verdicts):
            assert writer.post(f"/v1/reviews/queue/{item['id']}", json={"verdict": verdict}).status_code == 201
        report = reader.get("/v1/reviews/agreement").json()
        assert [a["reason"] for a in report["items"]] == ["correctness", "efficiency", "security", "maintainability"]
        correctness = report["items"][0]
        assert correctness["judge"] == "tests (sandbox)"
        votes = correctness["votes"]
        agree, disagree = verdicts.count("agree"), verdicts.count("disagree")
        assert (votes["agree"], votes["disagree"], votes["skip"]) == (agree, disagree, verdicts.count("skip"))
        iv = wilson(agree, agree + disagree).rounded()
        assert (votes["rate"]["value"], votes["rate"]["low"], votes["rate"]["high"]) == (iv.value, iv.low, iv.high)
        assert votes["rate"]["tasks"] == agree + disagree and votes["rate"]["confidence"] == 0.95
        rounds = correctness["rounds"]
        per_round = Counter((i["run"], i["round"]) for i, v in zip(items, verdicts))
        assert {(r["run"], r["round"]) for r in rounds} == set(per_round)
        assert [r["drawn_at"] for r in rounds] == sorted(r["drawn_at"] for r in rounds)
        assert sum(r["votes"]["agree"] + r["votes"]["disagree"] + r["votes"]["skip"] for r in rounds) == len(verdicts)
        assert all(a["votes"]["rate"]["value"] is None for a in report["items"][1:])      # nobody reviewed those
        only_live = reader.get("/v1/reviews/agreement", params={"run": "live"}).json()
        assert only_live["run"] == "live"
        assert only_live["items"][0]["votes"]["agree"] == sum(1 for i, v in zip(items, verdicts)
                                                              if i["run"] == "live" and v == "agree")


def test_an_item_shows_what_decided_it_and_outlives_its_run(reviewed):
    runs = reviewed.settings.runs_dir
    with _http(reviewed, "read") as reader:
        item = _queue(reader, run="live")[0]
        detail = reader.get(f"/v1/reviews/queue/{item['id']}").json()
        pair = next(p for p in _pairs(runs / "live", item["round"]) if p.id == item["pair_id"])
        task = next(json.loads(line) for line in (runs / "live/tasks.jsonl").read_text().splitlines()
                    if json.loads(line)["task_id"] == item["task_id"])
        assert detail["pair"] == pair.to_dict() and detail["pair"]["provenance"]["sandbox"]["backend"] == "bwrap"
        context = detail["context"]
        assert context["found"] and context["tests"] == task["tests"] and context["entry_point"] == task["entry_point"]
        assert context["chosen"]["sample_id"] == pair.chosen_id and context["chosen"]["code"].endswith(pair.chosen)
        assert context["rejected"]["status"] == pair.rejected_verdict.status
        assert context["strengthened"] == [] and "without strengthened inputs" in context["strengthened_note"]
        assert reader.get("/v1/reviews/queue/999999").status_code == 404
        shutil.rmtree(runs / "live")
        gone = reader.get(f"/v1/reviews/queue/{item['id']}").json()
        assert not gone["context"]["found"] and gone["pair"] == detail["pair"]


def test_the_migration_adds_and_removes_the_review_tables(database_url):
    from alembic import command
    from sqlalchemy import inspect

    from codealign.service.store import Database, upgrade
    from codealign.service.store.db import alembic_config

    tables = {"review_rounds", "review_items", "reviews"}
    upgrade(database_url, "0004_task_intake")
    db = Database(database_url)
    try:
        assert not tables & set(inspect(db.engine).get_table_names())
        upgrade(database_url, "0005_reviews")
        assert tables <= set(inspect(db.engine).get_table_names())
        command.downgrade(alembic_config(database_url), "0004_task_intake")
        assert not tables & set(inspect(db.engine).get_table_names())
    finally:
        db.close()
