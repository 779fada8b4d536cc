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
from codealign.sandbox.session import ZYGOTE_PATH, ProcessLink, ZygoteSession

__all__ = ["bwrap_argv", "start_bwrap"]

SANDBOX_UID = 65534   # nobody, inside and (when started as root) outside


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


def _unprivileged_prefix() -> list[str]:
    """As root, start bwrap as nobody: the kernel never applies RLIMIT_NPROC to processes
    that are root outside their user namespace, so a fork bomb would go unbounded."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailable("running as root needs setpriv (util-linux) to drop to an "
                                 "unprivileged user for the sandbox")
    return [setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all"]


def bwrap_argv(config: SandboxConfig, zygote_fd: int) -> list[str]:
    """The command line that starts one zygote; its source is read from `zygote_fd`, so no
    host path of ours needs to be visible to the sandbox's user."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap); "
                                 "or choose --backend docker")
    python = _python_path(config)
    argv = _unprivileged_prefix() + [
            bwrap,
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/" + link)
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            argv += ["--ro-bind", str(target), f"/{link}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--mqueue", "/dev/mqueue",
             "--size", str(config.tmpfs_mb << 20), "--tmpfs", "/tmp",
             "--perms", "0444", "--ro-bind-data", str(zygote_fd), "/harness/zygote.py",
             "--chdir", "/tmp", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
             "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
             "--remount-ro", "/dev", "--remount-ro", "/",
             python, "-I", "-S", "-B", "/harness/zygote.py"]
    return argv


def start_bwrap(config: SandboxConfig) -> ZygoteSession:
    source = ZYGOTE_PATH.read_bytes()
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, source)   # < 64 KiB: fits the pipe; bwrap reads it at set-up
        os.close(write_fd)
        link = ProcessLink(bwrap_argv(config, read_fd), pass_fds=(read_fd,))
    finally:
        os.close(read_fd)
    return ZygoteSession(link, name="bwrap", work_dir="/tmp")
