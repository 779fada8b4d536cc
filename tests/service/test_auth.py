"""Auth: bearer keys with scopes read < write < admin; 401 without or with an unknown key,
403 for too small a scope, /healthz open; `codealign serve` refuses a non-loopback bind
while no key exists; `codealign keys create` prints a key once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from codealign.service.store.keys import create_key
from codealign.service.store.models import Scope
from tests.service.conftest import ROOT, add_task

# (method, path, json body, scope needed)
ENDPOINTS = [
    ("GET", "/v1/info", None, "read"),
    ("GET", "/v1/tasks", None, "read"),
    ("GET", "/v1/tasks/none", None, "read"),
    ("GET", "/v1/runs", None, "read"),
    ("GET", "/v1/metrics/pass-rates?run=none&round=1", None, "read"),
    ("POST", "/v1/tasks", add_task(1), "write"),
    ("POST", "/v1/tasks/batch", {"tasks": [add_task(2)]}, "write"),
    ("DELETE", "/v1/tasks/none", None, "write"),
    ("POST", "/v1/runs/none/cancel", None, "write"),
    ("GET", "/v1/keys", None, "admin"),
    ("DELETE", "/v1/keys/000000000000", None, "admin"),
    ("PUT", "/v1/schedule", {"paused": True}, "admin"),
]
ORDER = ["read", "write", "admin"]


def test_auth_matrix(live):
    with live.client() as open_client:
        assert open_client.http.get("/v1/tasks").status_code == 200     # no key stored yet: open
    with live.db().session() as s:
        keys = {scope: create_key(s, Scope(scope)) for scope in ORDER}
    for method, path, body, needed in ENDPOINTS:
        for who in (None, "ca_0000_bogus", *ORDER):
            with live.client(keys.get(who, who)) as c:
                status = c.http.request(method, path, json=body).status_code
            if who is None or who == "ca_0000_bogus":
                expected = {401}
            elif ORDER.index(who) < ORDER.index(needed):
                expected = {403}
            else:
                expected = {200, 202, 404}
            assert status in expected, (method, path, who, status)
    with live.client() as c:
        assert c.http.get("/healthz").status_code == 200
        unauthorized = c.http.get("/v1/tasks")
        assert unauthorized.headers["www-authenticate"] == "Bearer"
        assert unauthorized.headers["content-type"] == "application/problem+json"


def _cli(*args, home):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODEALIGN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "codealign", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_serve_refuses_an_open_public_bind_and_keys_create_prints_once(tmp_path):
    refused = _cli("serve", "--host", "0.0.0.0", "--port", "1", home=tmp_path)
    assert refused.returncode == 2
    assert "refusing to bind 0.0.0.0" in refused.stderr and "keys create" in refused.stderr
    made = _cli("keys", "create", "--scope", "read", home=tmp_path)
    assert made.returncode == 0 and made.stdout.startswith("ca_")
    key = made.stdout.strip()
    assert key.encode() not in (tmp_path / "codealign.db").read_bytes()
    bad = _cli("keys", "create", "--scope", "root", home=tmp_path)
    assert bad.returncode == 2 and "scope" in bad.stderr


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                           ("0.0.0.0", False), ("10.0.0.5", False), ("::", False)])
def test_loopback_detection(host, loopback):
    from codealign.service.settings import is_loopback
    assert is_loopback(host) is loopback
