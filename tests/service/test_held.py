"""What the issue's attacker tried and what held (issue 18), kept that way: the dashboard's
cookie authorizes no /v1 call, `next=` never redirects off the site, names cannot traverse
out of their directories, and hostile bodies get 4xx, never 5xx."""

from __future__ import annotations

import json

import pytest

from codealign.service.dashboard.pages import COOKIE
from codealign.service.store.keys import create_key
from codealign.service.store.models import Scope
from tests.service.conftest import LiveService, make_settings


@pytest.fixture
def keyed(tmp_path):
    """The service on SQLite with one admin key (yields the service and the key)."""
    with LiveService(make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")) as service:
        with service.db().session() as s:
            key = create_key(s, Scope.ADMIN)
        yield service, key


def test_the_cookie_authorizes_no_api_call(keyed):
    service, key = keyed
    with service.client() as c:
        c.http.cookies.set(COOKIE, key)
        assert c.http.get("/", follow_redirects=False).status_code == 200           # the dashboard: yes
        for method, path in (("GET", "/v1/tasks"), ("GET", "/v1/keys"), ("POST", "/v1/keys")):
            assert c.http.request(method, path, json={"scope": "admin"}).status_code == 401, path


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "\\\\evil.example"])
def test_next_never_leaves_the_site(keyed, target):
    service, key = keyed
    with service.client() as c:
        done = c.http.post("/login", data={"key": key, "next": target}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/"
        form = c.http.get("/login", params={"next": target}).text
        assert "evil.example" not in form and "javascript:" not in form


def test_names_do_not_traverse(keyed):
    service, key = keyed
    with service.client(key) as c:
        for path in ("/v1/runs/..%2F..%2Fetc", "/v1/runs/%2e%2e/rounds", "/v1/tasks/../../etc/passwd",
                     "/runs/..%2Fhome", "/v1/metrics/pass-rates?run=../x&round=1"):
            assert c.http.get(path).status_code in (404, 422), path
        for config in ("../configs/demo", "/etc/passwd", "demo/../../x"):
            assert c.http.post("/v1/runs", json={"config": config}).status_code == 422, config
        assert c.http.put("/v1/schedule", json={"recipe": "../../etc/passwd"}).status_code == 422


def test_hostile_bodies_are_4xx(keyed):
    service, key = keyed
    deep = "[" * 100_000 + "]" * 100_000
    with service.client(key) as c:
        for body in (deep, '{"config": ' + deep + "}", '{"overrides": {"sampling": ' + deep + "}}",
                     "\xff\xfe", "{" * 50, json.dumps({"config": "x" * 10**6})):
            r = c.http.post("/v1/runs", content=body.encode("utf-8", "surrogatepass"),
                            headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (body[:40], r.status_code)
