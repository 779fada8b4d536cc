"""The operator owns the infrastructure, API callers own experiments (issue 18, item 1-2).

Every hostile override of the probes (unsandboxed backend, a caller's generator URL or Ray
address, host paths as tasks, model, caches, run directory, resource limits, 1000 rounds) is
a 422 naming the field, and nothing is started, written or fetched: no run directory, no
created directory, no connection to a listener on loopback. `/etc/shadow`, a missing path and
a directory answer the same, because no path is read at all. Typed overrides reach the run's
config as typed values, the recipe's other fields kept; the operator's ceilings hold.
"""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from codealign.errors import ConfigError
from codealign.service.recipes import Overrides, TaskSelection, load_recipe
from tests.service.conftest import make_settings, write_operator_recipes


@pytest.fixture
def listener():
    """A TCP listener on loopback that must never receive a connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def run_dirs(runs) -> list[str]:
    return [p.name for p in runs.iterdir() if not p.name.startswith(".")]    # not the lock files


def hostile_overrides(port: int, tmp_path) -> list[tuple[dict, str]]:
    """(overrides, the field the 422 must name) for every probe of the issue."""
    url = f"http://127.0.0.1:{port}/internal/admin/delete?confirm=yes&x="
    return [
        ({"sandbox": {"backend": "unsafe-no-isolation"}}, "overrides.sandbox"),
        ({"backend": "openai"}, "overrides.backend"),
        ({"generator": {"base_url": url, "api_key": "caller-key"}}, "overrides.generator"),
        ({"sandbox": {"executor": "ray", "ray_address": f"127.0.0.1:{port}"}}, "overrides.sandbox"),
        ({"tasks": "/etc/shadow"}, "overrides.tasks"),
        ({"tasks": str(tmp_path / "no-such-file.jsonl")}, "overrides.tasks"),
        ({"tasks": str(tmp_path)}, "overrides.tasks"),
        ({"model": "/etc/passwd"}, "overrides.model"),
        ({"sandbox": {"perf_cache_dir": str(tmp_path / "created-by-caller")}}, "overrides.sandbox"),
        ({"sandbox": {"tmpfs_mb": 1 << 20, "nproc": 100000}}, "overrides.sandbox"),
        ({"run_dir": "/"}, "overrides.run_dir"),
        ({"parent_run": "/etc"}, "overrides.parent_run"),
        ({"initial_policy": str(tmp_path)}, "overrides.initial_policy"),
        ({"name": "../escape"}, "overrides.name"),
        ({"judges": {"order": []}}, "overrides.judges"),
        ({"pairs": {"max_pairs_per_task": 10**6}}, "overrides.pairs"),
        ({"gate": {"objective": "pass@1"}}, "overrides.gate"),
        ({"dpo": {"accelerate_config": "/etc/passwd"}}, "overrides.dpo.accelerate_config"),
        ({"sampling": {"max_tokens": 10**7}}, "overrides.sampling.max_tokens"),
        ({"evaluation": {"heldout_tags": ["x"]}}, "overrides.evaluation.heldout_tags"),
        ({"rounds": 1000}, "overrides.rounds"),
        ({"rounds": True}, "overrides.rounds"),
        ({"sampling": {"n": 10**6}}, "overrides.sampling.n"),
        ({"sampling": {"temperature": "1e308"}}, "overrides.sampling.temperature"),
        ({"dpo": {"learning_rate": 1.0}}, "overrides.dpo.learning_rate"),
    ]


def test_every_hostile_override_is_refused_and_nothing_happens(operator, listener, tmp_path):
    runs = operator.settings.runs_dir
    with operator.client() as c:
        for i, (overrides, field) in enumerate(hostile_overrides(listener.getsockname()[1], tmp_path)):
            r = c.http.post("/v1/runs", json={"config": "tiny", "name": f"h{i}", "overrides": overrides})
            assert r.status_code == 422, (overrides, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            locs = [e["loc"] for e in r.json()["errors"]]
            assert any(loc.startswith("body." + field) for loc in locs), (overrides, locs)
            assert not (runs / f"h{i}").exists()
        # The operator's tighter ceiling: the schema allows 100 rounds, this service 3.
        r = c.http.post("/v1/runs", json={"config": "tiny", "name": "h-ceiling", "overrides": {"rounds": 4}})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "overrides.rounds"
        assert "CODEALIGN_MAX_ROUNDS" in r.json()["detail"]
        # Task selection is by name, never a path; tags only with the store's tasks.
        for tasks in ("/etc/shadow", "../configs/tiny", "active "):
            assert c.http.post("/v1/runs", json={"config": "tiny", "tasks": tasks}).status_code == 422
        r = c.http.post("/v1/runs", json={"config": "tiny", "tasks": "bank", "tags": ["x"]})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "tags"
        # Resume: rounds bounded before the run is even looked up.
        assert c.http.post("/v1/runs/none/resume", json={"rounds": 1000}).status_code == 422
        assert c.http.post("/v1/runs/none/resume", json={"rounds": 3}).status_code == 404
    assert connections(listener) == 0
    assert not (tmp_path / "created-by-caller").exists()
    assert run_dirs(runs) == []
    assert not operator.app.state.workers.active()


def test_a_host_path_is_not_read_so_no_answer_tells_files_apart(operator, tmp_path):
    (tmp_path / "secrets.json").write_text(json.dumps({"db_password": "hunter2"}))
    probes = ["/etc/shadow", str(tmp_path / "missing.jsonl"), str(tmp_path), str(tmp_path / "secrets.json")]
    with operator.client() as c:
        answers = []
        for path in probes:
            body = c.http.post("/v1/runs", json={"config": "tiny", "overrides": {"tasks": path}}).json()
            answers.append(json.dumps({k: v for k, v in body.items() if k != "instance"}, sort_keys=True))
        top = [c.http.post("/v1/runs", json={"config": "tiny", "tasks": p}).json() for p in probes]
    assert len(set(answers)) == 1 and len({json.dumps(t, sort_keys=True) for t in top}) == 1
    assert "db_password" not in answers[0] and "/etc" not in answers[0] and str(tmp_path) not in answers[0]


def test_operator_recipes_that_a_service_refuses(operator, monkeypatch):
    with operator.client() as c:
        unsafe = c.http.post("/v1/runs", json={"config": "unsafe"})
        assert unsafe.status_code == 422 and "unsafe-no-isolation" in unsafe.json()["detail"]
        assert "--allow-unsafe-no-isolation" in unsafe.json()["detail"]
        keyed = c.http.post("/v1/runs", json={"config": "keyed"})
        assert keyed.status_code == 422 and "generator.api_key" in keyed.json()["detail"]
        assert "sk-operator-secret-123" not in keyed.text
        broken = c.http.post("/v1/runs", json={"config": "broken"})
        assert broken.status_code == 422 and "field model" in broken.json()["detail"]
        assert str(operator.settings.home.parent) not in broken.text            # no server path
        missing = c.http.post("/v1/runs", json={"config": "nope"})
        assert missing.status_code == 404 and str(operator.settings.configs_dir) not in missing.text
    assert run_dirs(operator.settings.runs_dir) == []


def test_typed_overrides_change_only_their_knobs(tmp_path):
    configs = write_operator_recipes(tmp_path / "configs", tmp_path)
    recipe = yaml.safe_load((configs / "tiny.yaml").read_text())
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", configs_dir=configs)
    overrides = Overrides.model_validate({"rounds": 2, "seed": 5, "sampling": {"n": 4},
                                          "dpo": {"beta": 0.3}, "evaluation": {"n_samples": 4}})
    config = load_recipe(configs / "tiny.yaml", overrides, settings=settings, run_dir=tmp_path / "runs",
                         run_name="r")
    assert (config.rounds, config.seed, config.sampling.n, config.dpo.beta, config.evaluation.n_samples) == \
        (2, 5, 4, 0.3, 4)
    assert config.sampling.max_tokens == recipe["sampling"]["max_tokens"]       # the recipe's own
    assert config.dpo.lora_r == recipe["dpo"]["lora_r"] and config.generator == recipe["generator"]
    assert (config.name, config.run_dir, config.model) == ("r", str(tmp_path / "runs"), "org/tiny")
    assert load_recipe(configs / "tiny.yaml", run_dir=tmp_path, tasks=TaskSelection.BANK).tasks == "bank"
    # A knob's value the stage config refuses is the caller's error, named under overrides.
    with pytest.raises(ConfigError) as info:
        load_recipe(configs / "tiny.yaml", Overrides.model_validate({"evaluation": {"n_samples": 1}}),
                    run_dir=tmp_path)
    assert info.value.field == "overrides.evaluation.k"
    # The operator allows the unsafe sandbox explicitly, or never.
    with pytest.raises(ConfigError, match="unsafe-no-isolation"):
        load_recipe(configs / "unsafe.yaml", run_dir=tmp_path)
    allowed = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", allow_unsafe_no_isolation=True)
    assert load_recipe(configs / "unsafe.yaml", settings=allowed, run_dir=tmp_path).sandbox.backend == \
        "unsafe-no-isolation"


def test_overrides_are_a_typed_schema_in_the_openapi_document():
    from codealign.service.app import create_app
    from codealign.service.settings import Settings

    doc = create_app(Settings(home="/nonexistent-home")).openapi()
    schemas = doc["components"]["schemas"]
    run = schemas["RunCreate"]["properties"]
    assert run["overrides"]["$ref"].endswith("/Overrides")
    overrides = schemas["Overrides"]
    assert overrides["additionalProperties"] is False
    assert set(overrides["properties"]) == {"rounds", "seed", "tasks_per_round", "sampling", "dpo", "evaluation"}
    assert schemas["SamplingOverrides"]["additionalProperties"] is False
    rounds = overrides["properties"]["rounds"]["anyOf"][0]
    assert (rounds["minimum"], rounds["maximum"]) == (1, 100)
    assert set(schemas["TaskSelection"]["enum"]) == {"config", "active", "bank", "humaneval", "mbpp"}
    put = schemas["ScheduleUpdate"]["properties"]["overrides"]["anyOf"][0]
    assert put["$ref"].endswith("/Overrides")


def test_each_knob_is_a_field_of_its_stage_config():
    import dataclasses

    from codealign.config import RunConfig, _sections

    sections = _sections()
    top = {f.name for f in dataclasses.fields(RunConfig)}
    for name, field in Overrides.model_fields.items():
        assert name in top
        if name in sections:
            knobs = set(field.annotation.__args__[0].model_fields)
            assert knobs <= {f.name for f in dataclasses.fields(sections[name])}, name


def test_settings_may_tighten_the_ceilings_never_widen_them(tmp_path):
    from pydantic import ValidationError

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert make_settings(tmp_path, url, max_rounds=2, max_samples=4).max_samples == 4
    for field, value in (("max_rounds", 101), ("max_samples", 65), ("max_eval_samples", 201),
                         ("max_tasks_per_round", 100_001), ("max_dpo_epochs", 51)):
        with pytest.raises(ValidationError):
            make_settings(tmp_path, url, **{field: value})
    with pytest.raises(ValidationError, match="allow-unsafe-no-isolation"):
        make_settings(tmp_path, url, sandbox_backend="unsafe-no-isolation")


def test_schedule_takes_the_same_typed_overrides(tmp_path, database_url):
    from codealign.service.store.keys import create_key
    from codealign.service.store.models import Scope
    from tests.service.conftest import LiveService

    configs = write_operator_recipes(tmp_path / "configs", tmp_path)
    with LiveService(make_settings(tmp_path, database_url, configs_dir=configs, max_rounds=3)) as service:
        with service.db().session() as s:
            admin, read = create_key(s, Scope.ADMIN), create_key(s, Scope.READ)
        with service.client(admin) as c:
            assert c.http.put("/v1/schedule", json={"recipe": "tiny", "overrides": {"rounds": 2}}).status_code == 200
            for bad in ({"generator": {"base_url": "http://169.254.169.254/"}}, {"tasks": "/etc/shadow"},
                        {"sandbox": {"backend": "unsafe-no-isolation"}}, {"model": "/etc/passwd"},
                        {"rounds": 4}):
                r = c.http.put("/v1/schedule", json={"overrides": bad})
                assert r.status_code == 422, (bad, r.text)
            assert c.http.put("/v1/schedule", json={"recipe": "unsafe"}).status_code == 422
            assert c.http.put("/v1/schedule", json={"recipe": "keyed"}).status_code == 422
        with service.client(read) as c:
            shown = c.http.get("/v1/schedule")
            assert shown.status_code == 200 and shown.json()["recipe"] == "tiny"
            assert shown.json()["overrides"]["rounds"] == 2 and "api_key" not in shown.text


def test_resuming_a_finished_run_only_extends_it(operator):
    from tests.dashboard.synthetic_run import synthesize_run

    synthesize_run(operator.settings.runs_dir / "done", rounds=2, tasks=8)
    with operator.client() as c:
        for body in (None, {"rounds": 2}, {"rounds": 1}):
            r = c.http.post("/v1/runs/done/resume", json=body)
            assert r.status_code == 409 and "extend" in r.json()["detail"], r.text
        over = c.http.post("/v1/runs/done/resume", json={"rounds": 4})
        assert over.status_code == 422 and over.json()["errors"][0]["loc"] == "rounds"
    assert not operator.app.state.workers.active()


def test_a_key_named_by_the_recipe_never_lands_on_disk(tmp_path, monkeypatch):
    from tests.service.conftest import LiveService

    monkeypatch.setenv("CODEALIGN_TEST_OPENAI_KEY", "sk-env-secret-456")
    configs = write_operator_recipes(tmp_path / "configs", tmp_path)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", configs_dir=configs)
    with LiveService(settings) as service, service.client() as c:
        assert c.http.post("/v1/runs", json={"config": "envkey", "name": "e1"}).status_code == 202
        c.wait_run("e1", timeout=120)                   # the operator's server is not there: it fails
        shown = [c.http.get(p).text for p in ("/v1/runs", "/v1/runs/e1", "/v1/runs/e1/events")]
    run = settings.runs_dir / "e1"
    assert json.loads((run / "config.json").read_text())["generator"]["api_key_env"] == "CODEALIGN_TEST_OPENAI_KEY"
    for path in [*run.rglob("*"), *settings.home.rglob("*.log")]:
        if path.is_file():
            assert b"sk-env-secret-456" not in path.read_bytes(), path
    assert not any("sk-env-secret-456" in text for text in shown)
