"""GET/PUT /v1/schedule and GET /v1/nights through the real app (lifespan, store, scheduler)."""

from __future__ import annotations

import json

import pytest
import yaml
from fastapi.testclient import TestClient

from codealign.service.app import create_app
from codealign.service.settings import Settings
from seeded_policy import write_tasks


@pytest.fixture
def client(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "nightly.yaml").write_text(yaml.safe_dump({
        "name": "lineage", "model": str(model), "backend": "hf", "rounds": 2,
        "tasks": str(write_tasks(tmp_path / "tasks.jsonl"))}))
    settings = Settings(home=tmp_path / "home", configs_dir=configs)
    with TestClient(create_app(settings)) as c:
        yield c


def test_schedule_is_created_edited_and_validated(client):
    assert client.get("/v1/schedule").status_code == 404
    r = client.put("/v1/schedule", json={"recipe": "nightly", "cron": "30 1 * * *",
                                         "overrides": {"rounds": 1}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cron"] == "30 1 * * *" and body["recipe"] == "nightly" and body["lineage"] == "lineage"
    assert body["overrides"] == {"rounds": 1} and not body["paused"] and body["runs_here"]
    assert body["next_run"].endswith(("01:30:00Z", "01:30:00+00:00")) and body["last_run"] is None

    for bad, field in (({"cron": "nightly"}, "cron"), ({"recipe": "../etc/passwd"}, "recipe"),
                       ({"recipe": "missing"}, "recipe"), ({"overrides": {"rounds": 0}}, "rounds"),
                       ({"overrides": {"bogus": 1}}, "bogus")):
        r = client.put("/v1/schedule", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in json.dumps(r.json()), (bad, r.json())
    assert client.get("/v1/schedule").json() == body           # refused edits changed nothing

    paused = client.put("/v1/schedule", json={"paused": True}).json()
    assert paused["paused"] and paused["next_run"] is None and paused["cron"] == "30 1 * * *"
    resumed = client.put("/v1/schedule", json={"paused": False}).json()
    assert resumed["next_run"] == body["next_run"]


def test_nights_of_a_lineage_without_nights(client):
    assert client.get("/v1/nights").status_code == 404        # no schedule, no lineage given
    r = client.get("/v1/nights", params={"lineage": "lineage"})
    assert r.status_code == 200 and r.json() == {"lineage": "lineage", "nights": []}
