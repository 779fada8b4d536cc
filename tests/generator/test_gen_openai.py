"""The OpenAI-compatible backend: against a real `vllm serve` on loopback (slow), and against
a closed port (fast)."""

from __future__ import annotations

import time

import pytest
import vllm_server

from codealign.errors import GeneratorError
from codealign.generator import SamplingConfig, make_generator


def test_server_that_does_not_answer_is_a_clear_error_after_retries():
    port = vllm_server.free_port()  # nothing listens there once the socket is closed
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
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    served = vllm_server.start(tiny_model_dir, log, "--served-model-name", "base",
                               "--lora-modules", f"tuned={tiny_adapter_dir}")
    try:
        vllm_server.wait_healthy(served)
        yield served.url
    finally:
        served.stop()


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
