"""The service's edge (issue 18, items 3 and 9): the Host header is checked (a page that
rebinds its name to 127.0.0.1 gets nothing), the open mode answers loopback clients only,
every response carries the security headers, Swagger UI is off by default, error messages
name no server path, the database is created 0600 in a 0700 home, and the dashboard's
templates hold no inline script."""

from __future__ import annotations

import re
import stat

import httpx
import pytest
from fastapi.testclient import TestClient

from codealign.service.app import create_app, host_allowed
from codealign.service.settings import Settings
from tests.service.conftest import ROOT, LiveService, make_settings


def test_a_rebound_host_name_gets_400_and_loopback_names_pass(tmp_path):
    with LiveService(make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")) as service:
        port = service.port
        for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.nip.io", "0.0.0.0", ""):
            r = httpx.get(f"{service.url}/v1/tasks", headers={"Host": host})
            assert r.status_code == 400, host
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["x-frame-options"] == "DENY"
        for host in (f"127.0.0.1:{port}", "localhost", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx.get(f"{service.url}/v1/tasks", headers={"Host": host}).status_code == 200, host
        assert httpx.get(f"{service.url}/", headers={"Host": "attacker.example"}).status_code == 400


def test_allowed_hosts_setting():
    assert host_allowed("api.example.com:443", ("*.example.com",))
    assert not host_allowed("example.com.evil.org", ("*.example.com",))
    assert host_allowed("anything", ("*",)) and not host_allowed("[::1", ("::1",))
    settings = Settings(home="/nonexistent", allowed_hosts="codealign.internal, *.corp.example")
    assert settings.hosts == ("codealign.internal", "*.corp.example")
    assert Settings(home="/nonexistent", host="0.0.0.0").hosts == ("*",)
    assert Settings(home="/nonexistent").hosts == ("localhost", "127.0.0.1", "::1")


def test_the_open_mode_answers_loopback_clients_only(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.2.3", 4444)) as remote:
        r = remote.get("/v1/tasks")
        assert r.status_code == 401 and "loopback" in r.json()["detail"]
        assert remote.get("/", follow_redirects=False).status_code == 303        # the dashboard too
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 4444)) as local:
        assert local.get("/v1/tasks").status_code == 200


def test_security_headers_and_no_docs_by_default(live):
    with live.client() as c:
        for path in ("/v1/info", "/login", "/", "/v1/nothing", "/openapi.json"):
            headers = c.http.get(path, follow_redirects=False).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert "frame-ancestors 'none'" in csp and headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
        assert c.http.get("/docs").status_code == 404 and c.http.get("/redoc").status_code == 404


def test_docs_only_when_the_operator_turns_them_on(tmp_path):
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", api_docs=True))
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 1)) as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "cdn.jsdelivr.net" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in c.get("/v1/info").headers["content-security-policy"]


def test_templates_have_no_inline_script():
    templates = ROOT / "codealign" / "service" / "dashboard" / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        served = re.sub(r"{% if inline %}.*?{% else %}", "", text, flags=re.S)   # the static report's
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", served), path
        assert not re.search(r"\son[a-z]+\s*=", served), path
        assert "style=" not in served, path


def test_error_messages_name_no_server_path(operator):
    from codealign.runs.lock import RunLock

    home = str(operator.settings.home)
    with operator.client() as c:
        answers = [c.http.post("/v1/runs", json={"config": name}).text for name in ("nope", "broken")]
        (operator.settings.runs_dir / "junk").mkdir()
        (operator.settings.runs_dir / "junk" / "state.json").write_text("{}")
        answers.append(c.http.get("/runs/junk").text)                              # dashboard 404
        with RunLock(operator.settings.runs_dir):
            busy = c.http.post("/v1/runs", json={"config": "tiny"})
        assert busy.status_code == 409
        answers.append(busy.text)
    for text in answers:
        assert home not in text and str(ROOT) not in text, text
    from codealign.service.api.errors import public_text

    held = f"another run holds the run lock {operator.settings.runs_dir / '.run.lock'} (pid 1)"
    assert public_text(held, operator.settings) == "another run holds the run lock <runs>/.run.lock (pid 1)"


def test_database_and_logs_are_private(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'home' / 'codealign.db'}")
    with LiveService(settings):
        db = settings.home / "codealign.db"
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
        for extra in ("-wal", "-shm"):
            side = db.with_name(db.name + extra)
            if side.exists():
                assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


@pytest.mark.parametrize("url", ["http://h:1/v1?x=", "http://h/v1#f", "http://u:p@h/v1", "file:///etc/passwd",
                                 "http:///v1", "http://h/ v1", "gopher://h/"])
def test_generator_urls_a_request_could_bend_are_refused(url):
    from codealign.errors import GeneratorError
    from codealign.generator.openai import server_roots

    with pytest.raises(GeneratorError):
        server_roots(url)
