"""One live sandbox: a zygote process behind some isolation, and the framed link to it.

The backend decides how the zygote starts and which byte stream reaches it: bwrap and the
unsafe backend start a local process and talk over its pipes (`ProcessLink`); the docker
backend attaches to a container's stdin/stdout (`codealign.sandbox.docker`). Everything
after the start is the same. The host side never trusts more than the zygote's framing:
a zygote that stops answering is killed and replaced, and the execution in flight reads
as a timeout of the sandbox.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from codealign.errors import SandboxFault, SandboxUnavailable
from codealign.sandbox.wire import Response, parse_hello, parse_response
from codealign.sandbox.zygote import JobKey

__all__ = ["Link", "ProcessLink", "ZygoteSession", "ZYGOTE_PATH"]

ZYGOTE_PATH = Path(__file__).with_name("zygote.py")
_FRAME = struct.Struct(">I")
_MAX_RESPONSE = 64 << 20


class Link(Protocol):
    """A byte stream to one zygote, and the means to end it."""

    def send(self, data: bytes) -> None:
        """Write all of `data` to the zygote's stdin (raises OSError when it is gone)."""

    def recv(self, timeout: float) -> bytes | None:
        """Some bytes of the zygote's stdout; b"" at end of stream; None if none came in time."""

    @property
    def alive(self) -> bool:
        """Whether the zygote may still answer."""

    def diagnostics(self) -> str:
        """What the zygote wrote to stderr (the tail), for error messages."""

    def close(self) -> None:
        """Kill the zygote and everything in its sandbox, and release the stream."""


class ProcessLink:
    """A zygote started as a local process (`argv`), spoken to over its pipes."""

    def __init__(self, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, start_new_session=True, close_fds=True,
                                      pass_fds=pass_fds)
        assert self._proc.stdout is not None
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout.fileno(), selectors.EVENT_READ)

    def send(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def recv(self, timeout: float) -> bytes | None:
        assert self._proc.stdout is not None
        if timeout <= 0 or not self._sel.select(timeout):
            return None
        return os.read(self._proc.stdout.fileno(), 1 << 20)

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def diagnostics(self) -> str:
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self._log.seek(0)
        text = self._log.read()[-2000:].decode("utf-8", "replace").strip()
        return text or f"no message (exit status {self._proc.returncode})"

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._sel.close()
        self._log.close()


class ZygoteSession:
    """Exchanges job/response frames with one zygote.

    `link` is the command that starts it (a local process; see `ProcessLink`) or an
    already started `Link`. The zygote's first frame must say it is ready. Each response is
    parsed here, once, into a `codealign.sandbox.wire.Response`.
    """

    def __init__(self, link: list[str] | Link, *, name: str, startup_timeout: float = 60.0,
                 work_dir: str = "/tmp", owns_work_dir: bool = False) -> None:
        self.name, self.work_dir, self.jobs_run = name, work_dir, 0
        self.owns_work_dir = owns_work_dir
        self._link: Link = ProcessLink(link) if isinstance(link, list) else link
        self._buf = bytearray()
        hello = parse_hello(self._read(time.monotonic() + startup_timeout))
        if hello is None:
            detail = self._link.diagnostics()
            self.close()
            raise SandboxUnavailable(f"the {name} sandbox did not start: {detail}")
        self.python_version = hello.python

    def _read(self, deadline: float) -> Any:
        while True:
            if len(self._buf) >= _FRAME.size:
                (n,) = _FRAME.unpack(self._buf[:_FRAME.size])
                if n > _MAX_RESPONSE:
                    raise SandboxFault(f"{self.name} sandbox sent an oversized frame ({n} bytes)")
                if len(self._buf) >= _FRAME.size + n:
                    payload = bytes(self._buf[_FRAME.size:_FRAME.size + n])
                    del self._buf[:_FRAME.size + n]
                    return json.loads(payload)
            data = self._link.recv(deadline - time.monotonic())
            if not data:
                return None
            self._buf += data

    def run(self, job: dict[str, Any], timeout: float,
            secrets: dict[str, Any] | None = None) -> Response | None:
        """Send one job frame (`codealign.sandbox.wire.job_frame`); return the zygote's
        response, or None if it did not answer in time (the session is then dead and must be
        replaced). Raises SandboxFault when the zygote reports its own failure.

        `secrets` (the test scripts, which hold expected values) follow as a second frame
        that the zygote never reads: only the run's tester does, after the candidate's
        process has been forked from a memory that never held them.
        """
        job = {**job, JobKey.WORK_DIR: self.work_dir, JobKey.HAS_SECRETS: secrets is not None}
        payload = json.dumps(job).encode()
        if secrets is not None:
            extra = json.dumps(secrets).encode()
            payload += _FRAME.pack(len(extra)) + extra
            payload = _FRAME.pack(len(payload) - len(extra) - _FRAME.size) + payload
        else:
            payload = _FRAME.pack(len(payload)) + payload
        try:
            self._link.send(payload)
        except OSError:
            self.close()
            return None
        raw = self._read(time.monotonic() + timeout)
        if raw is None:
            self.close()
            return None
        self.jobs_run += 1
        try:
            return parse_response(raw)
        except SandboxFault as exc:
            raise SandboxFault(f"{self.name} {exc}") from None

    @property
    def alive(self) -> bool:
        return self._link.alive

    def close(self) -> None:
        self._link.close()
        if self.owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
