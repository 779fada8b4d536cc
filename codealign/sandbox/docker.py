"""The docker backend: one warm container per worker, the zygote as its PID 1.

Each sandbox is a long-lived container of the ``codealign-sandbox`` image (see
``docker/build_sandbox_image.sh``) running ``python3 -I -S -B /harness/zygote.py`` as its
PID 1. Jobs and responses travel over the container's stdin/stdout through an attached
socket (no ``docker exec`` per run: a new container costs ~0.3 s on the overlay2 storage
driver and 1-5 s on vfs, which copies the whole image; so the containers stay warm and the
zygote forks a fresh tester per run, exactly as under bwrap). The zygote's stderr is kept
as a tail for error messages.

Isolation of every container:

* no network at all (``network_mode="none"``), hostname ``sandbox``;
* read-only root filesystem; the only writable places are a size-limited tmpfs at
  ``/tmp`` (the working directory, wiped by the zygote around every run) and a small
  ``/dev/shm``; the harness is the package's own ``zygote.py``, bind-mounted read-only, so
  image and code never drift apart; no host path other than that file is visible;
* runs as ``65534:65534`` (nobody) with every capability dropped and
  ``no-new-privileges``;
* cgroup limits on processes (``pids_limit``), memory (no swap) and CPU (one core), on top
  of the zygote's per-run rlimits;
* a minimal environment, no log driver (the frames are not copied to disk).

Containers carry the label ``codealign-sandbox=1`` and their owner (host, PID and start
time of the Python process). They end with their owner: they are started with
``stdin_once`` and ``auto_remove``, so when the owner's attach socket closes, even by a
crash, the zygote reads end-of-file, exits, and the engine removes the container. Any that
remain (an engine restart, say) are removed by the next `start_docker` whose owner is dead.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from typing import Any

from codealign.errors import SandboxUnavailable
from codealign.sandbox.config import SandboxConfig
from codealign.sandbox.session import ZYGOTE_PATH, ZygoteSession

__all__ = ["LABEL", "OWNER_LABEL", "container_options", "owner_token", "start_docker",
           "sweep_leftovers", "docker_client"]

LABEL = "codealign-sandbox"
OWNER_LABEL = "codealign-sandbox.owner"
SANDBOX_USER = "65534:65534"
CONTAINER_MEMORY_MB = 2048     # the whole container: zygote, tester, candidate, tmpfs
SHM_MB = 8
BUILD_HINT = ("build it with `make setup` (as root), or run docker/build_sandbox_image.sh "
              "(offline, from Debian) or `docker build -f docker/Dockerfile.sandbox -t "
              "codealign-sandbox:latest docker/` where a registry is reachable")
_STREAM_HEADER = struct.Struct(">BxxxL")   # docker's multiplexed-stream frame header
_STDOUT, _STDERR = 1, 2
_STDERR_TAIL = 16 << 10

_lock = threading.Lock()
_client: Any = None
_swept = False


def owner_token(pid: int | None = None) -> str | None:
    """`host:pid:start-time` of a live process (None when there is no such process)."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    start = stat[stat.rindex(")") + 2:].split()[19]
    return f"{socket.gethostname()}:{pid}:{start}"


def docker_client() -> Any:
    """The process's Docker client (raises SandboxUnavailable when no engine answers)."""
    global _client
    with _lock:
        if _client is None:
            try:
                # The SDK's submodules by name: mypy, run from the repository root, takes
                # our docker/ folder (the images) for the package `docker` itself.
                import docker.client
                import docker.errors
            except ImportError as exc:
                raise SandboxUnavailable("the docker backend needs the `docker` Python package "
                                         "(pip install docker)") from exc
            try:
                client = docker.client.from_env()
                client.ping()
            except docker.errors.DockerException as exc:
                where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                raise SandboxUnavailable(
                    f"no Docker engine answers at {where} ({exc}); start one with "
                    "`make system` (scripts/setup_system.sh, as root), or choose --backend bwrap") from exc
            _client = client
        return _client


def docker_unavailable(image: str | None = None) -> str | None:
    """Why the docker backend cannot run here (no engine, no image), or None when it can."""
    import docker.errors

    image = image or SandboxConfig().image
    try:
        docker_client().images.get(image)
    except SandboxUnavailable as exc:
        return str(exc)
    except docker.errors.ImageNotFound:
        return f"the Docker image {image} is missing; {BUILD_HINT}"
    except docker.errors.DockerException as exc:
        return f"the Docker engine failed while looking for {image}: {exc}"
    return None


def sweep_leftovers(client: Any) -> list[str]:
    """Remove sandbox containers of this host whose owning process is gone; their ids."""
    host = socket.gethostname()
    removed = []
    # sparse: no per-container inspect, which races with containers being removed
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL}=1"}):
        owner = (container.attrs.get("Labels") or {}).get(OWNER_LABEL, "")
        parts = owner.split(":")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if owner_token(int(parts[1])) == owner:
            continue   # its owner still runs
        try:
            container.remove(force=True)
            removed.append(container.id)
        except Exception:  # noqa: BLE001 - already gone or being removed
            pass
    return removed


def container_options(config: SandboxConfig) -> dict[str, dict[str, Any]]:
    """One sandbox container, as the low-level API takes it: ``create`` (the arguments of
    `APIClient.create_container`, all but the owner label) and ``host`` (those of
    `APIClient.create_host_config`). ``stdin_open`` without ``detach`` is ``docker run -i``:
    stdin stays open while we are attached and closes when we hang up (StdinOnce)."""
    from docker.types import LogConfig, Ulimit
    create = dict(
        image=config.image,
        command=[config.python, "-I", "-S", "-B", "/harness/zygote.py"],
        entrypoint=[],
        user=SANDBOX_USER,
        working_dir="/tmp",
        hostname="sandbox",
        environment={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
                     "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"},
        volumes=["/harness/zygote.py"],
        stdin_open=True,
        detach=False,
        tty=False,
        labels={LABEL: "1"},
    )
    host = dict(
        network_mode="none",
        read_only=True,
        # Files in /dev/mqueue (POSIX message queues) would outlive a run; bwrap has no
        # such directory, and here an empty read-only tmpfs covers it.
        tmpfs={"/tmp": f"size={config.tmpfs_mb}m,mode=1777", "/dev/mqueue": "ro,size=4k"},
        shm_size=f"{SHM_MB}m",
        binds={str(ZYGOTE_PATH): {"bind": "/harness/zygote.py", "mode": "ro"}},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        pids_limit=config.nproc + 32,
        mem_limit=f"{CONTAINER_MEMORY_MB}m",
        memswap_limit=f"{CONTAINER_MEMORY_MB}m",
        nano_cpus=1_000_000_000,
        ulimits=[Ulimit(name="core", soft=0, hard=0)],
        log_config=LogConfig(type="none"),
        auto_remove=True,
    )
    return {"create": create, "host": host}


class ContainerLink:
    """The attached stdin/stdout of one running container (a `session.Link`).

    Without a TTY the engine multiplexes stdout and stderr on the socket in frames of an
    8-byte header (stream, 3 zero bytes, big-endian length) and the payload; stdout goes
    to the session, stderr to a tail kept for diagnostics.
    """

    def __init__(self, container: Any, sock: Any) -> None:
        self.container = container
        self._io = sock                                  # keeps the HTTP response alive
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._raw = bytearray()
        self._stderr = bytearray()
        self._eof = False
        self._closed = False

    def _pull(self, timeout: float) -> bool:
        """Read what the socket has within `timeout`; False if nothing came."""
        if self._eof or self._closed:
            return False
        try:
            ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
            if not ready:
                return False
            data = self._sock.recv(1 << 20)
        except (OSError, ValueError):
            data = b""
        if not data:
            self._eof = True
            return False
        self._raw += data
        return True

    def _demux(self) -> bytes:
        """Split complete frames off the buffer; their stdout bytes."""
        out = bytearray()
        while len(self._raw) >= _STREAM_HEADER.size:
            stream, n = _STREAM_HEADER.unpack_from(self._raw)
            if len(self._raw) < _STREAM_HEADER.size + n:
                break
            payload = self._raw[_STREAM_HEADER.size:_STREAM_HEADER.size + n]
            del self._raw[:_STREAM_HEADER.size + n]
            if stream == _STDOUT:
                out += payload
            elif stream == _STDERR:
                self._stderr += payload
                del self._stderr[:-_STDERR_TAIL]
        return bytes(out)

    def send(self, data: bytes) -> None:
        if self._closed or self._eof:
            raise BrokenPipeError("the sandbox container has ended")
        self._sock.sendall(data)

    def recv(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            out = self._demux()
            if out:
                return out
            if self._eof or self._closed:
                return b""
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._pull(remaining):
                if self._eof:
                    continue
                return None

    @property
    def alive(self) -> bool:
        while self._pull(0):
            pass
        return not (self._eof or self._closed)

    def diagnostics(self) -> str:
        self._pull(1.0)
        self._demux()
        text = bytes(self._stderr).decode("utf-8", "replace").strip()
        state = ""
        try:
            self.container.reload()
            s = self.container.attrs.get("State", {})
            state = (f"container {s.get('Status')}, exit code {s.get('ExitCode')}"
                     + (", OOM-killed" if s.get("OOMKilled") else "")
                     + (f", {s['Error']}" if s.get("Error") else ""))
        except Exception:  # noqa: BLE001 - already removed
            state = "container gone"
        return f"{text[-2000:]} ({state})" if text else state

    def close(self) -> None:
        """Hang up and kill; the engine removes the container (auto_remove)."""
        if self._closed:
            return
        self._closed = True
        for step in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close,
                     self._io.close, self.container.kill):
            try:
                step()
            except Exception:  # noqa: BLE001 - already closed, exited or removed
                pass


def _start_container(config: SandboxConfig) -> ContainerLink:
    import docker.errors
    import requests
    engine_errors = (docker.errors.DockerException, requests.RequestException)
    client = docker_client()
    global _swept
    with _lock:
        if not _swept:
            _swept = True
            sweep_leftovers(client)
    if not ZYGOTE_PATH.stat().st_mode & 0o004:
        raise SandboxUnavailable(f"{ZYGOTE_PATH} must be world-readable: the container runs it as "
                                 f"uid 65534 (chmod o+r {ZYGOTE_PATH})")
    try:
        client.images.get(config.image)
    except docker.errors.ImageNotFound:
        raise SandboxUnavailable(f"the Docker image {config.image} is missing; {BUILD_HINT}") from None
    except engine_errors as exc:
        raise SandboxUnavailable(f"the Docker engine failed: {exc}") from exc
    options = container_options(config)
    create = options["create"]
    create["labels"] = dict(create["labels"], **{OWNER_LABEL: owner_token() or ""})
    try:
        created = client.api.create_container(
            **create, host_config=client.api.create_host_config(**options["host"]))
        container = client.containers.get(created["Id"])
    except engine_errors as exc:
        raise SandboxUnavailable(f"cannot create a {config.image} container: {exc}") from exc
    try:
        sock = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                              "stream": 1})
        link = ContainerLink(container, sock)
        container.start()
    except Exception as exc:
        try:
            container.remove(force=True)
        except Exception:  # noqa: BLE001
            pass
        if isinstance(exc, engine_errors):
            raise SandboxUnavailable(f"cannot start a {config.image} container: {exc}") from exc
        raise
    return link


def start_docker(config: SandboxConfig) -> ZygoteSession:
    """One warm sandbox container with a ready zygote (raises SandboxUnavailable)."""
    return ZygoteSession(_start_container(config), name="docker", work_dir="/tmp")
