"""The OpenAI-compatible backend against a closed port. The tests against real `vllm serve`
processes share one pair of servers: `test_gen_openai_servers.py`."""

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
