"""Service fixtures: one real PostgreSQL server per session (Debian's `postgresql`, started
with initdb/pg_ctl in a temporary directory), a fresh database per test, and a live
`codealign serve` app (uvicorn in a thread, real HTTP) on either SQLite or PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from codealign.client import Client
from tests.service.pgserver import PostgresServer, new_pg_database, postgres_available

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["new_pg_database"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for this test session; yields its base URL (no database name)."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed (scripts/setup_system.sh installs it)")
    with PostgresServer() as server:
        yield server.url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return new_pg_database(request.getfixturevalue("postgres_server"))


class LiveService:
    """`create_app(settings)` served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, settings) -> None:
        import uvicorn

        from codealign.service.app import create_app

        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveService":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    def client(self, api_key: str | None = None) -> Client:
        return Client(self.url, api_key=api_key or "")

    def db(self):
        return self.app.state.db


def make_settings(tmp_path: Path, database_url: str, **fields):
    from codealign.service.settings import Settings

    fields = {"home": tmp_path / "home", "database_url": database_url, "configs_dir": ROOT / "configs",
              "sandbox_backend": "bwrap", "validation_workers": 2, **fields}
    return Settings(**fields)


@pytest.fixture
def live(tmp_path, database_url):
    """A running service on a fresh database (SQLite and PostgreSQL)."""
    with LiveService(make_settings(tmp_path, database_url)) as service:
        yield service


def add_task(i: int, **fields) -> dict:
    """A small valid task whose id and content depend on `i`."""
    return {"task_id": f"add{i}", "prompt": f"Return a + b + {i}.", "entry_point": "add",
            "tests": f"assert add(1, 2) == {3 + i}\nassert add(0, 0) == {i}\n",
            "reference": f"def add(a, b):\n    return a + b + {i}\n", "tags": ["math", f"n{i % 3}"],
            **fields}


def write_operator_recipes(configs: Path, tasks_dir: Path, *, base_url: str = "http://127.0.0.1:9") -> Path:
    """The operator's recipes for the trust-boundary tests (an OpenAI-compatible backend, so a
    run worker loads no model): ``tiny`` (every override applies to it), ``unsafe`` (the
    unsandboxed backend), ``keyed`` (a key written in the recipe), ``envkey`` (the key named
    by an environment variable), ``broken`` (a model path that is gone). Returns `configs`."""
    import yaml

    from seeded_policy import write_tasks

    configs.mkdir(parents=True, exist_ok=True)
    tiny = {"name": "tiny", "model": "org/tiny", "backend": "openai",
            "generator": {"base_url": base_url, "retries": 0, "timeout_s": 600},
            "tasks": str(write_tasks(tasks_dir / "tasks.jsonl")), "rounds": 1,
            "sampling": {"n": 2, "max_tokens": 24, "temperature": 0.5},
            "sandbox": {"backend": "bwrap", "workers": 1},
            "dpo": {"beta": 0.1, "lora_r": 4, "lora_alpha": 8, "epochs": 1},
            "evaluation": {"n_samples": 2, "k": [1, 2]}}
    recipes = {"tiny": tiny,
               "unsafe": {**tiny, "sandbox": {"backend": "unsafe-no-isolation", "workers": 1}},
               "keyed": {**tiny, "generator": {**tiny["generator"], "api_key": "sk-operator-secret-123"}},
               "envkey": {**tiny, "generator": {**tiny["generator"], "api_key_env": "CODEALIGN_TEST_OPENAI_KEY"}},
               "broken": {**tiny, "model": str(tasks_dir / "gone" / "model")}}
    for name, recipe in recipes.items():
        (configs / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    return configs


@pytest.fixture
def operator(tmp_path, database_url):
    """A running service (SQLite and PostgreSQL) over `write_operator_recipes`, with the
    overrides' ceilings tightened (max_rounds 3); yields the LiveService."""
    configs = write_operator_recipes(tmp_path / "configs", tmp_path)
    with LiveService(make_settings(tmp_path, database_url, configs_dir=configs, max_rounds=3)) as service:
        yield service


class ServeProcess:
    """`codealign serve --home HOME` in its own process (so that SIGKILL really kills the
    service), with `env` added to this process's environment; up once /healthz answers."""

    def __init__(self, home: Path, env: dict[str, str], *, deadline_s: float = 900.0) -> None:
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(home.parent / f"service-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codealign", "serve", "--port", str(self.port), "--home", str(home)],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_s
        while not self._up():
            assert time.monotonic() < deadline, "gave up waiting for the service to start"
            time.sleep(0.2)

    def _up(self) -> bool:
        import httpx

        assert self.process.poll() is None, f"the service exited ({self.process.returncode})"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str):
        import httpx

        return httpx.get(self.url + path, timeout=30)

    def post(self, path: str, body=None, **kwargs):
        import httpx

        return httpx.post(self.url + path, json=body, timeout=120, **kwargs)

    def stop(self, sig: int | None = None) -> None:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(sig or signal.SIGTERM)
            self.process.wait(120)
        self.log.close()
