"""The OpenAI-compatible backend: any server speaking ``/v1/completions`` or
``/v1/chat/completions`` (``vllm serve``, SGLang, TGI, llama.cpp, hosted APIs), one or several.

Generation runs on other machines; this side only sends requests. One request per prompt
(asking for all `n` choices at once). With several servers (data parallel: the same model
behind each URL) prompt ``i`` goes first to server ``i mod len(servers)``, and each server has
at most `concurrency` requests in flight; a thread pool shares one `httpx.Client`.

Failures: a connection failure or timeout marks the server down for `down_s` seconds and the
request moves to the next server at once; 429 and 5xx answers move it too, after a backoff
(``backoff_s * 2**attempt``). After `retries` retries, or on any other 4xx, a `GeneratorError`
names the URLs and what came back. A request is the unit of retry and its answer is used
whole (exactly `n` choices) or not at all, so a server dying mid-round loses nothing and
duplicates nothing; with a seed, the retry on another server draws the same samples.

Adapters follow the round. `adapter` may be a served model name (``vllm serve --lora-modules
NAME=DIR``) or a LoRA adapter *directory*: the directory is loaded onto each server, before
its first request, through vLLM's runtime endpoint ``POST /v1/load_lora_adapter`` under a
name derived from its content (``codealign-<sha256 of its files, 16 hex>``), so the same
adapter is never loaded twice and a changed one never hides behind an old name; switching to
another adapter unloads the previous one (``/v1/unload_lora_adapter``), and so does `close`.
The servers need ``--enable-lora`` (with ``--max-lora-rank`` ≥ the adapter's rank) and the
environment ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``, and must read the directory at the
same path (a shared volume). A server that was down is assumed to have restarted empty: the
adapter is loaded again before it gets another request.

Stop sequences: OpenAI's API (and vLLM's) take at most four; the first four go to the server
and every one is also applied here, cutting the text at the earliest match (the token count
then counts the tokens that start before the cut).

``SamplingConfig.chat=None`` means plain completions here (a server's tokenizer cannot be
inspected). Token counts come from the per-choice logprobs the request asks for (vLLM and
OpenAI return one entry per generated token); when a server omits them, the usage total is
split evenly over the choices.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codealign.errors import GeneratorError
from codealign.generator.protocol import Completion, Counts, FinishReason, SamplingConfig, per_prompt

__all__ = ["OpenAIGenerator", "adapter_name", "server_roots"]

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_MAX_STOP = 4       # the OpenAI API's limit on stop sequences per request


def server_roots(base_url: str | Sequence[str]) -> list[str]:
    """The API roots (``http://host:port[/prefix]/v1``) of `base_url`, a server root or a list
    of them. Every request URL is one of these plus a fixed path (``/completions``), so a root
    must be a plain ``http(s)://host[:port][/path]``: no query, fragment, credentials or
    whitespace, which would let the URL change where requests go (``...?x=`` swallows the
    path the client appends). `GeneratorError` names what is wrong.

    >>> server_roots(["http://10.0.0.1:8000", "https://api.example.com/v1/"])
    ['http://10.0.0.1:8000/v1', 'https://api.example.com/v1']
    """
    from urllib.parse import urlsplit

    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls or not all(isinstance(u, str) and u for u in urls):
        raise GeneratorError(f"base_url must be a URL or a non-empty list of URLs, got {base_url!r}")
    roots = []
    for url in urls:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise GeneratorError(f"base_url {url!r} is not a URL: {exc}") from None
        problem = ("must start with http:// or https://" if parts.scheme not in ("http", "https")
                   else "has no host" if not parts.hostname
                   else "must not carry credentials (user:password@)" if "@" in parts.netloc
                   else "must not have a query (?...) or fragment (#...)" if "?" in url or "#" in url
                   else "must not contain whitespace or control characters"
                   if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url) else "")
        if problem:
            raise GeneratorError(f"base_url {url!r} {problem}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        root = f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}{parts.path.rstrip('/')}"
        roots.append(root if root.endswith("/v1") else root + "/v1")
    return roots


def adapter_name(directory: str | Path) -> str:
    """The served name of a LoRA adapter directory: a hash of its files' names and bytes."""
    root = Path(directory)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(f.read_bytes())
    return "codealign-" + h.hexdigest()[:16]


class OpenAIGenerator:
    """Sample from one or several OpenAI-compatible servers.

    Args:
        model: the served base model's name (the same on every server).
        base_url: a server root, e.g. ``http://127.0.0.1:8000`` (a trailing ``/v1`` is fine),
            or a list of them (data parallel); see `server_roots`.
        api_key: sent as a bearer token if given.
        api_key_env: the name of an environment variable holding the key (read here, so the
            key is never written in a recipe or a run's config.json); with `api_key` too,
            `api_key` wins.
        concurrency: requests in flight at once, per server.
        timeout_s: per-request timeout.
        retries: retries after the first attempt, for transient failures (on any server).
        backoff_s: first backoff; doubles each retry.
        down_s: how long a server that did not answer is passed over.
    """

    def __init__(self, model: str, *, base_url: str | Sequence[str] = "http://127.0.0.1:8000",
                 api_key: str | None = None, api_key_env: str | None = None, concurrency: int = 8,
                 timeout_s: float = 120.0, retries: int = 4, backoff_s: float = 0.5,
                 down_s: float = 30.0) -> None:
        import os

        import httpx

        self.servers = server_roots(base_url)
        if api_key is None and api_key_env is not None:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                raise GeneratorError(f"api_key_env names the environment variable {api_key_env!r}, "
                                     "which is not set (or empty) in this process")
        if concurrency < 1 or retries < 0 or timeout_s <= 0 or backoff_s < 0 or down_s < 0:
            raise GeneratorError(f"bad client settings: concurrency={concurrency}, retries={retries}, "
                                 f"timeout_s={timeout_s}, backoff_s={backoff_s}, down_s={down_s}")
        self.model, self.concurrency = model, concurrency
        self.retries, self.backoff_s, self.down_s = retries, backoff_s, down_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers,
                                    limits=httpx.Limits(max_connections=concurrency * len(self.servers)))
        self._slots = [threading.Semaphore(concurrency) for _ in self.servers]
        self._locks = [threading.Lock() for _ in self.servers]
        self._down_until = [0.0] * len(self.servers)
        self._adapter: tuple[str, str] | None = None    # (name, directory) being sampled
        self._held: dict[int, str] = {}                  # server -> adapter name we loaded there
        self._names: dict[tuple[str, int], str] = {}     # (directory, mtime) -> content name

    @property
    def base_url(self) -> str:
        return self.servers[0]

    def uses_chat(self, params: SamplingConfig) -> bool:
        return bool(params.chat)

    # ------------------------------------------------------------------ one server, one call

    def _send(self, server: int, path: str, body: dict):
        """POST to one server; the httpx response (raises httpx.TransportError)."""
        with self._slots[server]:
            return self._client.post(self.servers[server] + path, json=body)

    def _mark_down(self, server: int) -> None:
        self._down_until[server] = time.monotonic() + self.down_s
        with self._locks[server]:
            self._held.pop(server, None)    # it may come back restarted, without our adapter

    def _order(self, first: int) -> list[int]:
        """Servers to try, round-robin from `first`; those marked down last."""
        ring = [(first + k) % len(self.servers) for k in range(len(self.servers))]
        now = time.monotonic()
        return [s for s in ring if self._down_until[s] <= now] + [s for s in ring if self._down_until[s] > now]

    def _ensure_adapter(self, server: int, name: str) -> None:
        """Load the current adapter onto `server` unless it holds it (raises TransportError)."""
        with self._locks[server]:
            if self._held.get(server) == name or self._adapter is None:
                return
            response = self._client.post(self.servers[server] + "/load_lora_adapter",
                                         json={"lora_name": name, "lora_path": self._adapter[1]})
            if response.status_code >= 400 and "already been loaded" not in response.text:
                raise GeneratorError(
                    f"{self.servers[server]} refused to load adapter {self._adapter[1]} as {name}: "
                    f"HTTP {response.status_code}: {response.text[:300]} (the server needs "
                    "--enable-lora, a large enough --max-lora-rank, "
                    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, and the directory at the same path)")
            self._held[server] = name

    def _post(self, path: str, body: dict, first: int = 0) -> dict:
        import httpx

        tried: list[str] = []
        last = ""
        moved = False           # the last failure was a dead server: fail over without waiting
        for attempt in range(self.retries + 1):
            if attempt and not moved:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            server = self._order(first + attempt)[0]
            url = self.servers[server] + path
            if url not in tried:
                tried.append(url)
            try:
                if self._adapter is not None and body["model"] == self._adapter[0]:
                    self._ensure_adapter(server, body["model"])
                response = self._send(server, path, body)
            except httpx.TransportError as exc:  # refused, reset, timed out
                last, moved = f"{type(exc).__name__}: {exc}", len(self.servers) > 1
                self._mark_down(server)
                continue
            moved = False
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise GeneratorError(f"{url} answered HTTP {response.status_code}: "
                                     f"{response.text[:300]}")
            try:
                return response.json()
            except ValueError as exc:
                raise GeneratorError(f"{url} answered with non-JSON: {response.text[:200]}") \
                    from exc
        raise GeneratorError(f"no answer from {', '.join(tried)} after {self.retries + 1} attempts "
                             f"({last})")

    # ------------------------------------------------------------------ adapters

    def _follow(self, adapter: str | None) -> str:
        """The model name to sample `adapter` by; switching adapters unloads the previous one."""
        if adapter is None:
            return self.model
        directory = Path(adapter).expanduser()
        if not directory.is_dir():
            return adapter      # a name the servers already serve
        if not (directory / "adapter_config.json").is_file():
            raise GeneratorError(f"not a LoRA adapter (no adapter_config.json): {adapter}")
        key = (str(directory.resolve()), (directory / "adapter_config.json").stat().st_mtime_ns)
        if key not in self._names:
            self._names[key] = adapter_name(directory)
        name = self._names[key]
        if self._adapter is None or self._adapter[0] != name:
            self._unload_all()
            self._adapter = (name, key[0])
        return name

    def _unload_all(self) -> None:
        """Unload what we loaded, wherever it is (a server that is gone has nothing to unload)."""
        import httpx

        for server, name in sorted(self._held.items()):
            try:
                response = self._client.post(self.servers[server] + "/unload_lora_adapter",
                                             json={"lora_name": name})
            except httpx.TransportError:
                continue
            if response.status_code >= 400 and response.status_code != 404:
                raise GeneratorError(f"{self.servers[server]} refused to unload {name}: "
                                     f"HTTP {response.status_code}: {response.text[:300]}")
        self._held.clear()
        self._adapter = None

    # ------------------------------------------------------------------ sampling

    def _one(self, prompt: str, n: int, params: SamplingConfig, seed: int | None,
             model: str, first: int) -> list[Completion]:
        body: dict = {"model": model, "n": n, "temperature": params.temperature,
                      "top_p": params.top_p, "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop[:_MAX_STOP])
        if seed is not None:
            body["seed"] = seed
        if params.chat:
            body.update(messages=[{"role": "user", "content": prompt}], logprobs=True,
                        top_logprobs=0)
            answer = self._post("/chat/completions", body, first)
        else:
            body.update(prompt=prompt, logprobs=0)
            answer = self._post("/completions", body, first)
        try:
            choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
            usage = (answer.get("usage") or {}).get("completion_tokens", 0)
            result = []
            for choice in choices:
                text = (choice["message"]["content"] if params.chat else choice["text"]) or ""
                tokens = _tokens(choice, usage // max(len(choices), 1))
                reason = FinishReason.of(choice.get("finish_reason"))
                cut = min((i for i in (text.find(s) for s in params.stop) if i >= 0), default=-1)
                if cut >= 0:
                    text, tokens, reason = text[:cut], _tokens_before(choice, cut, tokens), FinishReason.STOP
                result.append(Completion(text, tokens, reason))
        except (KeyError, TypeError) as exc:
            raise GeneratorError(f"{self.base_url}: unexpected answer shape "
                                 f"({exc!r}): {str(answer)[:200]}") from exc
        if len(result) != n:
            raise GeneratorError(f"{self.base_url}: asked for n={n} choices, got {len(result)}")
        return result

    def generate(self, prompts: list[str], n: Counts, params: SamplingConfig,
                 adapter: str | None = None) -> list[list[Completion]]:
        model = self._follow(adapter)
        workers = self.concurrency * len(self.servers)
        counts = per_prompt(n, len(prompts))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._one, p, count, params, params.prompt_seed(i), model,
                                   i % len(self.servers))
                       for i, (p, count) in enumerate(zip(prompts, counts))]
            return [f.result() for f in futures]

    def close(self) -> None:
        try:
            self._unload_all()
        finally:
            self._client.close()


def _tokens_before(choice: dict, cut: int, fallback: int) -> int:
    """Generated tokens that start before character `cut` of the choice's text."""
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("text_offset") and logprobs.get("tokens") is not None:
        start = logprobs["text_offset"][0]
        return sum(1 for offset in logprobs["text_offset"] if offset - start < cut)
    pieces = [t.get("token", "") for t in logprobs.get("content") or []]
    if not pieces:
        return fallback
    seen = count = 0
    for piece in pieces:
        if seen >= cut:
            break
        seen, count = seen + len(piece), count + 1
    return count


def _tokens(choice: dict, fallback: int) -> int:
    """Generated tokens of one choice, from its logprobs (completions or chat shape)."""
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("tokens") is not None:
        return len(logprobs["tokens"])
    if logprobs.get("content") is not None:
        return len(logprobs["content"])
    return fallback
