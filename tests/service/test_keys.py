"""Keys (issue 18, item 4): `codealign keys list | revoke`, the admin API, revocation that
takes effect on the next request, one cache entry per key whatever the header's spelling,
a bounded cache, last-used times, and the migration that added them (from revision 0002, on
SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select, text

from codealign.service.store import Database, upgrade
from codealign.service.store.keys import create_key, verify_key
from codealign.service.store.models import ApiKey, Scope, TaskRow
from tests.service.conftest import ROOT, LiveService, make_settings


def _cli(*args, home, url=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODEALIGN_HOME": str(home)}
    if url:
        env["CODEALIGN_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "codealign", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_key_revoked_through_the_admin_api_fails_on_its_next_request(live):
    with live.db().session() as s:
        admin, write = create_key(s, Scope.ADMIN, "ops"), create_key(s, Scope.WRITE, "ci")
    write_id = write.split("_")[1]
    with live.client(write) as w, live.client(admin) as a:
        assert w.http.get("/v1/tasks").status_code == 200
        assert w.http.get("/v1/keys").status_code == 403                       # admin only
        listed = a.http.get("/v1/keys").json()["items"]
        assert [k["id"] for k in listed] == [admin.split("_")[1], write_id]
        assert all("key" not in k and "key_hash" not in k for k in listed)
        used = next(k for k in listed if k["id"] == write_id)
        assert used["last_used_at"] is not None and used["revoked_at"] is None
        revoked = a.http.delete(f"/v1/keys/{write_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        again = w.http.get("/v1/tasks")                                        # the very next request
        assert again.status_code == 401 and again.headers["www-authenticate"] == "Bearer"
        assert a.http.delete("/v1/keys/000000000000").status_code == 404
        made = a.http.post("/v1/keys", json={"scope": "read", "name": "dash"})
        assert made.status_code == 201 and made.json()["key"].startswith("ca_")
        with live.client(made.json()["key"]) as r:
            assert r.http.get("/v1/runs").status_code == 200
            assert r.http.post("/v1/keys", json={"scope": "admin"}).status_code == 403
        # Revoking every key never reopens the API.
        for k in a.http.get("/v1/keys").json()["items"]:
            a.http.delete(f"/v1/keys/{k['id']}")
    with live.client() as anonymous:
        assert anonymous.http.get("/v1/tasks").status_code == 401


def test_header_spellings_share_one_cache_entry_and_unknown_keys_are_not_cached(tmp_path):
    import secrets

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    with LiveService(settings) as service:
        with service.db().session() as s:
            key = create_key(s, Scope.READ)
        cache = service.app.state.keys
        with service.client() as c:
            for spelling in (f"Bearer {key}", f"bearer   {key}", f"BEARER {key}", f"Bearer\t{key}"):
                for _ in range(50):
                    assert c.http.get("/v1/info", headers={"Authorization": spelling}).status_code == 200
            assert len(cache) == 1
            for _ in range(300):              # well-formed ids and secrets nobody issued
                bogus = f"ca_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"
                assert c.http.get("/v1/info", headers={"Authorization": f"Bearer {bogus}"}).status_code == 401
            assert c.http.get("/v1/info", headers={"Authorization": f"Bearer {key[:-2]}xx"}).status_code == 401
            assert c.http.get("/v1/info", headers={"Authorization": "Basic abc"}).status_code == 401
            assert len(cache) == 1
    cache.SIZE = 4                                # bounded: the least recently used goes first
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            keys = [create_key(s, Scope.READ) for _ in range(6)]
        for k in keys:
            cache.check(db, k)
        assert len(cache) == 4
    finally:
        db.close()


def test_cli_lists_and_revokes_and_a_running_service_follows(tmp_path, database_url):
    home = tmp_path / "home"
    settings = make_settings(tmp_path, database_url, key_cache_ttl_s=0.2)
    upgrade(database_url)
    db = Database(database_url)
    with db.session() as s:
        key = create_key(s, Scope.WRITE, "robot")           # `keys create`: test_auth.py
    db.close()
    key_id = key.split("_")[1]
    with LiveService(settings) as service, service.client(key) as c:
        assert c.http.get("/v1/tasks").status_code == 200
        listed = _cli("keys", "list", home=home, url=database_url)
        assert listed.returncode == 0 and key_id in listed.stdout and "robot" in listed.stdout
        assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
        revoked = _cli("keys", "revoke", key_id, home=home, url=database_url)
        assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
        time.sleep(0.3)                                            # the service's key_cache_ttl_s
        assert c.http.get("/v1/tasks").status_code == 401
        row = next(line for line in _cli("keys", "list", home=home, url=database_url).stdout.splitlines()
                   if key_id in line)
        assert not row.rstrip(" │|").endswith("-")                 # a revoked time is listed
    if database_url.startswith("sqlite"):                   # the CLI's own checks: once
        missing = _cli("keys", "revoke", "000000000000", home=home, url=database_url)
        assert missing.returncode == 2 and "no key" in missing.stderr


def test_upgrade_from_0002_keeps_keys_and_tasks(database_url):
    upgrade(database_url, "0002")
    db = Database(database_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO tasks (task_id, content_hash, status, source, record, created_at, "
                              "updated_at) VALUES ('a', 'h', 'validating', 'api', '{\"x\": 1}', "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            # A key as revision 0002 stored it: ca_<prefix>_<secret>, its SHA-256.
            import hashlib
            key = "ca_0123456789ab_" + "s" * 32
            conn.execute(text("INSERT INTO api_keys (prefix, key_hash, scope, name, created_at) VALUES "
                              "('0123456789ab', :h, 'read', 'old', CURRENT_TIMESTAMP)"),
                         {"h": hashlib.sha256(key.encode()).hexdigest()})
        upgrade(database_url)
        with db.session() as session:
            task = session.scalar(select(TaskRow))
            assert (task.task_id, task.owner, task.record) == ("a", "open", {"x": 1})
            row = session.scalar(select(ApiKey))
            assert (row.last_used_at, row.revoked_at) == (None, None)
            assert verify_key(session, key).name == "old"
        upgrade(database_url, "0002")                # and back down
        upgrade(database_url)
    finally:
        db.close()


def test_serve_refuses_the_unsafe_sandbox_without_the_operator_flag(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODEALIGN_HOME": str(tmp_path),
           "CODEALIGN_SANDBOX_BACKEND": "unsafe-no-isolation"}
    refused = subprocess.run([sys.executable, "-m", "codealign", "serve", "--port", "1"], capture_output=True,
                             text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "--allow-unsafe-no-isolation" in refused.stderr


def test_malformed_authorization_is_401(live):
    with live.db().session() as s:
        create_key(s, Scope.READ)
    with live.client() as c:
        for header in ("", "Bearer", "Bearer ca_", "Token x", "Bearer " + "x" * 5000):
            assert c.http.get("/v1/tasks", headers={"Authorization": header} if header else {}).status_code == 401


def test_the_operator_flag_is_logged_at_start(tmp_path, caplog):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", allow_unsafe_no_isolation=True,
                             sandbox_backend="unsafe-no-isolation")
    with caplog.at_level("WARNING", logger="codealign.service"), LiveService(settings):
        pass
    assert any("unsafe-no-isolation" in r.getMessage() for r in caplog.records if r.name == "codealign.service")


def test_the_client_lists_creates_and_revokes_keys(live):
    from codealign.client import ApiError

    with live.db().session() as s:
        admin = create_key(s, Scope.ADMIN, "ops")
    with live.client(admin) as a:
        made = a.create_key("write", name="ci")
        assert made["scope"] == "write" and made["name"] == "ci" and made["key"].startswith("ca_")
        assert [k["id"] for k in a.list_keys()] == [admin.split("_")[1], made["id"]]
        with live.client(made["key"]) as w:
            assert w.list_tasks()["items"] == []
            with pytest.raises(ApiError) as refused:
                w.list_keys()                                   # a write key is no admin
            assert refused.value.status == 403
            assert a.revoke_key(made["id"])["revoked_at"] is not None
            with pytest.raises(ApiError) as revoked:
                w.list_tasks()
            assert revoked.value.status == 401
        with pytest.raises(ApiError) as missing:
            a.revoke_key("000000000000")
        assert missing.value.status == 404
