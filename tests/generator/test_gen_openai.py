"""The OpenAI-compatible backend: against a real `vllm serve` on loopback (slow), and against
a closed port (fast)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from codealign.errors import GeneratorError
from codealign.generator import SamplingConfig, make_generator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_that_does_not_answer_is_a_clear_error_after_retries():
    port = _free_port()  # nothing listens there once the socket is closed
    gen = make_generator("openai", "m", base_url=f"http://127.0.0.1:{port}", retries=2,
                         backoff_s=0.05, timeout_s=2)
    start = time.monotonic()
    with pytest.raises(GeneratorError) as err:
        gen.generate(["x", "y"], 1, SamplingConfig(n=1, max_tokens=2))
    assert f"http://127.0.0.1:{port}/v1/completions" in str(err.value)
    assert "after 3 attempts" in str(err.value)
    assert time.monotonic() - start >= 0.05 + 0.1  # it backed off between attempts
    gen.close()


@pytest.fixture(scope="module")
def server(tiny_model_dir, tiny_adapter_dir, tmp_path_factory):
    """`vllm serve` of the tiny model with the tiny adapter as the model name "tuned"."""
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(tiny_model_dir), "--served-model-name", "base",
           "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "512",
           "--enable-lora", "--max-lora-rank", "8", "--lora-modules", f"tuned={tiny_adapter_dir}",
           "--enable-prefix-caching", "--no-enable-chunked-prefill"]  # see generator/vllm.py
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not healthy after 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_completions_against_vllm_serve(server):
    gen = make_generator("openai", "base", base_url=server, concurrency=2)
    params = SamplingConfig(n=3, max_tokens=4, temperature=1.0, seed=1)
    out = gen.generate(["def add(", "class", "import"], 3, params)
    assert [len(c) for c in out] == [3, 3, 3]
    assert all(1 <= c.tokens <= 4 for cs in out for c in cs)
    assert any(c.finish_reason.value == "length" for cs in out for c in cs)
    assert gen.generate(["def add("], 3, params) == out[:1]  # seeded: reproducible
    gen.close()


@pytest.mark.slow
def test_adapter_is_selected_by_model_name_and_changes_samples(server):
    gen = make_generator("openai", "base", base_url=server + "/v1")
    params = SamplingConfig(n=4, max_tokens=16, temperature=1.0, seed=7)
    base = gen.generate(["def add(a, b):"], 4, params)
    tuned = gen.generate(["def add(a, b):"], 4, params, adapter="tuned")
    assert [c.text for c in tuned[0]] != [c.text for c in base[0]]
    with pytest.raises(GeneratorError, match="HTTP 404"):
        gen.generate(["x"], 1, params, adapter="no-such-adapter")
    gen.close()


@pytest.mark.slow
def test_chat_completions_against_vllm_serve(server):
    gen = make_generator("openai", "base", base_url=server)
    out = gen.generate(["Write add(a, b)."], 2, SamplingConfig(n=2, max_tokens=5, chat=True))
    assert len(out[0]) == 2 and all(1 <= c.tokens <= 5 for c in out[0])
    gen.close()
