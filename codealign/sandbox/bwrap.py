"""The bubblewrap backend: one unprivileged Linux sandbox per worker.

Each sandbox is a ``bwrap`` process with new user, PID, network, IPC, UTS and cgroup
namespaces, no capabilities, nested user namespaces disabled, ``--new-session`` (no
TIOCSTI into our terminal) and ``--die-with-parent``. Its filesystem holds only what Python
needs, read-only: ``/usr`` (with the merged-/usr links), a fresh ``/proc`` and minimal
``/dev``, the zygote script, and a size-limited tmpfs at ``/tmp`` that is the working
directory and the only writable place. The host's ``/root``, home directories, ``/etc``,
``/tmp`` and the caller's working tree are not there. The environment is cleared.
Inside, the zygote is PID 1 (see zygote.py): it forks a fresh tester per execution,
applies the rlimits to the candidate's process, and afterwards kills every process and
wipes the tmpfs, so one run cannot touch the next.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codealign.errors import SandboxUnavailable
from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.session import ZYGOTE_PATH, ZygoteSession

__all__ = ["bwrap_argv", "start_bwrap"]


def _python_path(config: SandboxConfig) -> str:
    python = os.path.realpath(config.python)
    if not os.access(python, os.X_OK):
        raise SandboxUnavailable(f"no Python interpreter at {config.python} for the sandbox; "
                                 "install Debian's python3 (apt-get install python3)")
    home = os.path.realpath(os.path.expanduser("~"))
    for private in ("/root", home, "/tmp", os.getcwd()):
        if private != "/" and (python + "/").startswith(private.rstrip("/") + "/"):
            raise SandboxUnavailable(f"the sandbox interpreter {python} lies under {private}, which "
                                     "the sandbox never exposes; use a system Python such as /usr/bin/python3")
    if not python.startswith("/usr/"):
        raise SandboxUnavailable(f"the sandbox interpreter must live under /usr (got {python})")
    return python


def bwrap_argv(config: SandboxConfig) -> list[str]:
    """The bwrap command line that starts one zygote."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap); "
                                 "or choose --backend docker")
    python = _python_path(config)
    argv = [bwrap,
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--disable-userns",
            "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/" + link)
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            argv += ["--ro-bind", str(target), f"/{link}"]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(config.tmpfs_mb << 20), "--tmpfs", "/tmp",
             "--ro-bind", str(ZYGOTE_PATH), "/harness/zygote.py",
             "--chdir", "/tmp", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
             "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
             python, "-I", "-S", "-B", "/harness/zygote.py"]
    return argv


def start_bwrap(config: SandboxConfig) -> ZygoteSession:
    return ZygoteSession(bwrap_argv(config), name="bwrap", work_dir="/tmp")
