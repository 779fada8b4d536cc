"""One live sandbox: a zygote process behind some isolation, and the framed link to it.

The backend decides the command that starts the zygote (bwrap, `docker attach`, or a
plain subprocess for the unsafe backend); everything after the start is the same. The host
side never trusts more than the zygote's framing: a zygote that stops answering is killed
and replaced, and the execution in flight reads as a timeout of the sandbox.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from codealign.errors import SandboxFault, SandboxUnavailable

__all__ = ["ZygoteSession", "ZYGOTE_PATH"]

ZYGOTE_PATH = Path(__file__).with_name("zygote.py")
_FRAME = struct.Struct(">I")
_MAX_RESPONSE = 64 << 20


class ZygoteSession:
    """Starts `argv` (which must run zygote.py) and exchanges job/response frames with it."""

    def __init__(self, argv: list[str], *, name: str, startup_timeout: float = 60.0,
                 work_dir: str = "/tmp") -> None:
        self.name, self.work_dir, self.jobs_run = name, work_dir, 0
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, start_new_session=True, close_fds=True)
        self._buf = bytearray()
        hello = self._read(time.monotonic() + startup_timeout)
        if hello is None or not hello.get("ready"):
            detail = self._stderr_text()
            self.close()
            raise SandboxUnavailable(f"the {name} sandbox did not start: "
                                     f"{detail or 'no message (exit status %s)' % self._proc.returncode}")
        self.python_version = hello.get("python", "")

    def _stderr_text(self) -> str:
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace").strip()

    def _read(self, deadline: float) -> dict[str, Any] | None:
        out = self._proc.stdout
        assert out is not None
        fd = out.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                if len(self._buf) >= _FRAME.size:
                    (n,) = _FRAME.unpack(self._buf[:_FRAME.size])
                    if n > _MAX_RESPONSE:
                        raise SandboxFault(f"{self.name} sandbox sent an oversized frame ({n} bytes)")
                    if len(self._buf) >= _FRAME.size + n:
                        payload = bytes(self._buf[_FRAME.size:_FRAME.size + n])
                        del self._buf[:_FRAME.size + n]
                        return json.loads(payload)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    return None
                data = os.read(fd, 1 << 20)
                if not data:
                    return None
                self._buf += data

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one job; return the zygote's response, or None if it did not answer in time
        (the session is then dead and must be replaced)."""
        job = dict(job, work_dir=self.work_dir)
        payload = json.dumps(job).encode()
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(_FRAME.pack(len(payload)) + payload)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return None
        response = self._read(time.monotonic() + timeout)
        if response is None:
            self.close()
        else:
            self.jobs_run += 1
        return response

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

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
        self._log.close()
