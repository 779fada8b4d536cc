"""GET/PUT /v1/schedule and GET /v1/nights through the real app (lifespan, store, scheduler)."""

from __future__ import annotations

import json

import pytest
import yaml
from fastapi.testclient import TestClient

from codealign.service.app import create_app
from codealign.service.settings import Settings
from seeded_policy import write_tasks
from test_nightly import stand_ins  # noqa: F401 (fixture)


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
    with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("127.0.0.1", 5000)) as c:
        yield c


def test_schedule_is_created_edited_and_validated(client):
    assert client.get("/v1/schedule").status_code == 404
    assert client.put("/v1/schedule", json={"cron": "0 3 * * *"}).status_code == 404   # needs a recipe
    assert client.put("/v1/schedule", json={"recipe": "missing"}).status_code == 404
    r = client.put("/v1/schedule", json={"recipe": "nightly", "cron": "30 1 * * *",
                                         "overrides": {"rounds": 1}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cron"] == "30 1 * * *" and body["recipe"] == "nightly" and body["lineage"] == "lineage"
    assert {k: v for k, v in body["overrides"].items() if v is not None} == {"rounds": 1}
    assert not body["paused"] and body["runs_here"]
    assert body["next_run"].endswith(("01:30:00Z", "01:30:00+00:00")) and body["last_run"] is None

    for bad, field in (({"cron": "nightly"}, "cron"), ({"recipe": "../etc/passwd"}, "recipe"),
                       ({"overrides": {"rounds": 0}}, "rounds"), ({"paused": True, "when": 1}, "when"),
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


def test_nights_api_publishes_deltas_with_intervals(tmp_path, stand_ins):
    from codealign.config import load_config
    from codealign.runs.nightly import run_night
    from test_nightly import lineage_recipe

    recipe, square = lineage_recipe(tmp_path)
    home = tmp_path / "home"
    config = load_config(recipe, {"run_dir": str(home / "runs")})
    run_night(config)
    run_night(config, extra_tasks=[square])
    run_night(config, extra_tasks=[square])
    with TestClient(create_app(Settings(home=home, configs_dir=tmp_path)), base_url="http://127.0.0.1",
                    client=("127.0.0.1", 5000)) as c:
        body = c.get("/v1/nights", params={"lineage": "lin"}).json()
    nights = body["nights"]
    assert [n["night"] for n in nights] == [1, 2, 3] and body["lineage"] == "lin"
    assert [n["promoted"] for n in nights] == [True, True, False]
    assert [n["tasks_added"] for n in nights] == [["add", "double", "neg"], ["square"], []]
    assert nights[1]["parent_run"] == "lin-night-0001" and nights[0]["status"] == "succeeded"
    first = nights[0]["pass_at_1_delta"]
    assert first["value"] == 0.5 and first["low"] <= 0.5 <= first["high"] and first["confidence"] == 0.95
    assert nights[0]["secure_rate_delta"]["tasks"] >= 1
    assert nights[2]["pass_at_1_delta"] is None and nights[2]["rounds"] == 1


def test_codealign_nightly_snapshots_the_active_api_tasks(tmp_path, client):
    import subprocess
    import sys
    import time

    from tests.service.conftest import ROOT, add_task

    assert client.post("/v1/tasks", json=add_task(7)).status_code == 202
    deadline = time.monotonic() + 300                 # sandbox validation (a failure guard)
    while (status := client.get("/v1/tasks/add7").json()["status"]) == "validating":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status == "active"
    settings = client.app.state.settings
    recipe = tmp_path / "configs" / "nightly.yaml"
    night = subprocess.run([sys.executable, "-m", "codealign", "nightly", "--config", str(recipe),
                            "--run-dir", str(settings.runs_dir), "--database-url", settings.database_url],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert night.returncode == 1, night.stderr        # the stand-in model cannot load: failed
    record = client.get("/v1/nights", params={"lineage": "lineage"}).json()["nights"][0]
    assert record["tasks_added"][-1] == "add7" and record["status"] == "failed"
    assert "add7" in (settings.runs_dir / "lineage-night-0001" / "tasks.jsonl").read_text()
