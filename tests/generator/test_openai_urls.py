"""The OpenAI-compatible client sends requests only where the operator's URL says (issue 18,
item 2): a plain root (scheme, host, port, path prefix), to which a fixed API path is
appended; never a query, fragment or credentials. Its key can come from an environment
variable the recipe names, so the key is never written in a recipe or a run's config."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codealign.errors import GeneratorError
from codealign.generator import SamplingConfig
from codealign.generator.openai import OpenAIGenerator, server_roots


@pytest.fixture
def recorder():
    """A server answering /completions with one choice per n; it records each request line and
    its Authorization header."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization")))
            answer = {"choices": [{"index": i, "text": "return 1", "finish_reason": "stop",
                                   "logprobs": {"tokens": ["a"]}} for i in range(body["n"])]}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_requests_go_to_the_root_plus_a_fixed_path_with_the_key_from_the_environment(recorder, monkeypatch):
    url, seen = recorder
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-from-env")
    gen = OpenAIGenerator("m", base_url=url + "/prefix/", api_key_env="TEST_OPENAI_KEY", retries=0)
    out = gen.generate(["x"], 2, SamplingConfig(n=2, max_tokens=4))
    gen.close()
    assert [c.text for c in out[0]] == ["return 1", "return 1"]
    assert seen == [("/prefix/v1/completions", "Bearer sk-from-env")]


def test_a_missing_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TEST_OPENAI_KEY", raising=False)
    with pytest.raises(GeneratorError, match="TEST_OPENAI_KEY"):
        OpenAIGenerator("m", base_url="http://127.0.0.1:9", api_key_env="TEST_OPENAI_KEY")


def test_server_roots_keep_the_path_and_refuse_what_would_move_a_request():
    assert server_roots("http://H:8000") == ["http://h:8000/v1"]
    assert server_roots(["https://api.example.com/v1", "http://[::1]:9/openai"]) == \
        ["https://api.example.com/v1", "http://[::1]:9/openai/v1"]
    for bad in ("http://127.0.0.1:1/admin?x=", "http://h/#x", "http://user:pw@h", "ftp://h", "http://h:99999",
                "http://h/a b", "", ["http://h", 3]):
        with pytest.raises(GeneratorError):
            server_roots(bad)
