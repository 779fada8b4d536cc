"""Starting and stopping real `vllm serve` processes on loopback for the openai backend's tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL (a crash, not a shutdown) and reap."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def start(model: Path, log: Path, *args: str, runtime_lora: bool = False) -> Server:
    """`vllm serve MODEL` with LoRA enabled (own process group); returns before it is healthy."""
    port = free_port()
    # INFO: the tests read the server's "Loaded new LoRA adapter" lines (an in-process demo run
    # earlier in the session sets VLLM_LOGGING_LEVEL=WARNING in this process's environment).
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", OMP_NUM_THREADS="1", VLLM_LOGGING_LEVEL="INFO")
    if runtime_lora:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "512",
           "--enable-lora", "--max-lora-rank", "8",
           "--enable-prefix-caching", "--no-enable-chunked-prefill", "--dtype", "float32",
           *args]  # see generator/vllm.py
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    return Server(f"http://127.0.0.1:{port}", proc, log)


def wait_healthy(*servers: Server, timeout_s: float = 400) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {server.proc.returncode}:\n"
                            f"{server.log.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    waiting.remove(server)
            except httpx.TransportError:
                pass
        if waiting and time.monotonic() > deadline:
            pytest.fail(f"vllm serve not healthy after {timeout_s:.0f} s:\n"
                        f"{waiting[0].log.read_text()[-3000:]}")
        time.sleep(1)
