"""The service image, built offline (docker/build_service_image.sh) and run the way the
deployment files run it: non-root, read-only root, no capabilities, no-new-privileges, on
loopback with an API key. The smoke test: /healthz, the image's HEALTHCHECK turns healthy,
a submitted task is validated in the sandbox inside the container (bubblewrap) and read back,
and a task whose reference fails its tests is rejected."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "codealign-service:latest"
pytestmark = pytest.mark.docker

GOOD = {"task_id": "smoke/add", "prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "entry_point": "add",
        "tests": "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
        "reference": "def add(a, b):\n    return a + b\n"}
BAD = dict(GOOD, task_id="smoke/bad", reference="def add(a, b):\n    return a - b\n")


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image():
    if shutil.which("docker") is None or _docker("info").returncode != 0:
        pytest.skip("no Docker engine (scripts/setup_system.sh starts one)")
    # This interpreter (a 3.11 with pip, like the image's) installs the package for the image.
    done = subprocess.run(["bash", "docker/build_service_image.sh"], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800, env=dict(os.environ, PYTHON=sys.executable))
    assert done.returncode == 0, done.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def service(image, tmp_path_factory):
    import httpx

    home = tmp_path_factory.mktemp("service-home")
    home.chmod(0o777)                     # the container's user (uid 10001) writes here
    hardening = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                 "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined",
                 "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
                 "--pids-limit", "512", "--memory", "2g",
                 "-v", f"{home}:/var/lib/codealign"]
    key = _docker("run", "--rm", "--network", "none", *hardening, image,
                  "codealign", "keys", "create", "--scope", "admin", "--name", "smoke")
    assert key.returncode == 0, key.stderr[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"codealign-smoke-{uuid.uuid4().hex[:8]}"
    started = _docker("run", "-d", "--name", name, "--network", "host", *hardening,
                      "-e", "CODEALIGN_HOST=127.0.0.1", "-e", f"CODEALIGN_PORT={port}", image)
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {key.stdout.strip().splitlines()[0]}"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("no /healthz after 120 s:\n" + _docker("logs", name).stderr[-3000:])
            time.sleep(1)
        yield name, client
    finally:
        client.close()
        _docker("rm", "-f", name)


def _wait_status(client, task_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        task = client.get(f"/v1/tasks/{task_id}").json()
        if task["status"] != "validating" or time.monotonic() > deadline:
            return task
        time.sleep(0.5)


def test_healthz_and_the_images_healthcheck(service):
    name, client = service
    assert client.get("/healthz").status_code == 200
    deadline = time.monotonic() + 90
    while (state := _docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()) != "healthy":
        assert state in ("starting", "healthy") and time.monotonic() < deadline, state
        time.sleep(2)
    user = _docker("exec", name, "id", "-u").stdout.strip()
    assert user == "10001"


def test_submitted_task_is_validated_in_the_sandbox_and_read_back(service):
    name, client = service
    response = client.post("/v1/tasks", json=GOOD)
    assert response.status_code == 202, response.text
    task = _wait_status(client, GOOD["task_id"])
    assert task["status"] == "active", (task, _docker("logs", name).stderr[-3000:])
    assert task["prompt"] == GOOD["prompt"] and task["reference"] == GOOD["reference"]


def test_task_whose_reference_fails_is_rejected(service):
    _, client = service
    assert client.post("/v1/tasks", json=BAD).status_code == 202
    task = _wait_status(client, BAD["task_id"])
    assert task["status"] == "rejected" and task["reason"]
