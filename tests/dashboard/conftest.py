"""One service (the real app: store, keys, API and dashboard, under uvicorn on a free loopback
port) and one headless Chromium (Debian's, driven by Playwright) per test session.

Runs in the service's runs directory: `syn` (a synthetic run of 6 rounds × 40 tasks, see
synthetic_run.py) for every test; `t` (the loop on the tests' seeded tiny policy) for the
slow ones. Screenshots go to tests/artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]          # synthetic_run, seeded_policy, browser_helpers

from browser_helpers import Console, log_in  # noqa: E402

ARTIFACTS = HERE.parent / "artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Service:
    """The running app: its base URL, settings, one read key, and helpers for the API."""

    def __init__(self, app, settings, url: str, key: str) -> None:
        self.app, self.settings, self.url, self.key = app, settings, url, key

    @property
    def runs_dir(self) -> Path:
        return Path(self.settings.runs_dir)

    def api(self, path: str, **params):
        import httpx

        r = httpx.get(self.url + path, params=params, headers={"Authorization": f"Bearer {self.key}"},
                      timeout=60)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    import uvicorn

    from codealign.service.app import create_app
    from codealign.service.settings import Settings
    from codealign.service.store.keys import create_key
    from codealign.service.store.models import Scope
    from synthetic_run import synthesize_run

    home = tmp_path_factory.mktemp("dashboard-home")
    settings = Settings(home=home, configs_dir=home / "configs")
    synthesize_run(settings.runs_dir / "syn", rounds=6, tasks=40)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    with app.state.db.session() as session:
        key = create_key(session, Scope.READ, "dashboard tests")
    yield Service(app, settings, f"http://127.0.0.1:{port}", key)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup_system.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, service):
    """A fresh browser context, logged in through the form; console errors collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.console = Console(pg)
    log_in(pg, service)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def tiny_run(service, tmp_path_factory):
    """A real run of the loop (2 rounds) on the seeded tiny policy, in the service's runs dir."""
    from codealign.config import load_config
    from codealign.runs import run_loop
    from seeded_policy import seeded_policy, write_recipe

    work = tmp_path_factory.mktemp("tiny-run")
    recipe = write_recipe(work, seeded_policy(tmp_path_factory.getbasetemp()), rounds=2,
                          run_dir=str(service.runs_dir))
    return run_loop(load_config(recipe), progress=False).run_path
