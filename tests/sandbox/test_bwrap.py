"""bwrap backend specifics: what the sandbox exposes, and that it runs as an ordinary user."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from codealign.errors import SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, Status, run_many
from codealign.sandbox.bwrap import bwrap_argv
from codealign.tasks.task import Task

REPO = Path(__file__).resolve().parents[2]
PROBE = Task(task_id="probe", prompt="probe", entry_point="probe", tests="assert probe() == 0\n",
             timeout_s=5.0, memory_mb=256)


def probe(code: str):
    """Run `probe()` in the sandbox and return what it returned (it never equals 0)."""
    [execution] = run_many([Job("probe", PROBE, code)], SandboxConfig())
    assert execution.status is Status.FAILED, execution
    detail = execution.outcomes[0].detail
    assert detail.startswith("expected 0, got "), detail
    return detail[len("expected 0, got "):]


def test_filesystem_is_only_usr_and_a_tmpfs():
    seen = probe("import os\ndef probe():\n    return sorted(os.listdir('/'))\n")
    assert seen == "['bin', 'dev', 'harness', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr']"


def test_only_tmp_is_writable():
    code = ("def probe():\n    ok = []\n"
            "    for p in ['/x', '/usr/x', '/dev/x', '/harness/x', '/proc/x', '/tmp/x']:\n"
            "        try:\n            open(p, 'w').write('x'); ok.append(p)\n"
            "        except OSError:\n            pass\n    return ok\n")
    assert probe(code) == "['/tmp/x']"


def test_identity_environment_and_namespaces():
    code = ("import os, socket\ndef probe():\n"
            "    return (os.getuid(), os.getpid() > 1, socket.gethostname(), sorted(os.environ))\n")
    assert probe(code) == "(65534, True, 'sandbox', ['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'TMPDIR'])"


def test_rlimit_nproc_is_enforced():
    code = ("import os, time\ndef probe():\n    n = 0\n    try:\n        while n < 1000:\n"
            "            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n"
            "            n += 1\n    except OSError:\n        pass\n    return n\n")
    assert int(probe(code)) < SandboxConfig().nproc


def test_missing_interpreter_is_a_clear_error():
    with pytest.raises(SandboxUnavailable, match="no Python interpreter"):
        bwrap_argv(SandboxConfig(python="/usr/bin/no-such-python"), 0)


def test_interpreter_under_root_is_refused():
    with pytest.raises(SandboxUnavailable, match="never exposes|must live under /usr"):
        bwrap_argv(SandboxConfig(python=sys.executable), 0)


# The stage configs are pydantic dataclasses (`codealign.stage_config`); the ordinary user's
# interpreter (the system's: the venv's may live under /root) gets a copy of pydantic.
_HOST_PACKAGES = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an ordinary user")
def test_runs_as_an_ordinary_user():
    """The same code, started by uid 65534 instead of root, gives the same verdicts."""
    work = Path(tempfile.mkdtemp(prefix="codealign-user-", dir="/tmp"))
    try:
        shutil.copytree(REPO / "codealign", work / "codealign",
                        ignore=shutil.ignore_patterns("__pycache__", "data"))
        for name in _HOST_PACKAGES:      # what the host side imports beyond the standard library
            origin = Path(importlib.util.find_spec(name).origin)
            if origin.name == "__init__.py":
                shutil.copytree(origin.parent, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, work / origin.name)
        os.chmod(work, 0o755)
        script = (
            "import json\n"
            "from codealign.sandbox import Job, SandboxConfig, run_many\n"
            "from codealign.tasks.task import Task\n"
            "t = Task(task_id='t', prompt='p', entry_point='f', tests='assert f(2) == 4\\n')\n"
            "codes = ['def f(x):\\n    return x * 2\\n', 'def f(x):\\n    return x\\n',\n"
            "         'import sys\\ndef f(x):\\n    sys.exit(0)\\n']\n"
            "rs = run_many([Job(str(i), t, c) for i, c in enumerate(codes)], SandboxConfig(workers=1))\n"
            "print(json.dumps([r.status.value for r in rs]))\n")
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script],
            cwd=work, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(work), "HOME": str(work)},
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout.strip().splitlines()[-1]) == ["passed", "failed", "tampered"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_ipc_objects_do_not_outlive_a_run():
    """System V IPC and POSIX message queues live in the sandbox's IPC namespace, which
    outlives one run; the zygote clears them between runs."""
    leave = ("import ctypes, os\nlibc = ctypes.CDLL(None)\ndef probe():\n"
             "    open('/dev/mqueue/q', 'w').close()\n"
             "    return (libc.shmget(1234, 4096, 0o1666) >= 0, libc.msgget(5678, 0o1666) >= 0,\n"
             "            libc.semget(91011, 1, 0o1666) >= 0)\n")
    look = ("import os\ndef probe():\n    return [open('/proc/sysvipc/' + k).read().count('\\n') - 1\n"
            "            for k in ('shm', 'msg', 'sem')] + [os.listdir('/dev/mqueue')]\n")
    first, second = run_many([Job("leave", PROBE, leave), Job("look", PROBE, look)], SandboxConfig(workers=1))
    assert first.outcomes[0].detail == "expected 0, got (True, True, True)"
    assert second.outcomes[0].detail == "expected 0, got [0, 0, 0, []]"
