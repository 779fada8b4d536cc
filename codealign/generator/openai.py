"""The OpenAI-compatible backend: any server speaking ``/v1/completions`` or
``/v1/chat/completions`` (``vllm serve``, SGLang, TGI, llama.cpp, hosted APIs).

Generation runs on other machines; this side only sends requests. One request per prompt
(asking for all `n` choices at once), at most `concurrency` in flight (a thread pool sharing
one `httpx.Client`), each with a timeout. Connection failures, timeouts, 429 and 5xx answers
are retried with exponential backoff (``backoff_s * 2**attempt``); after `retries` retries, or
on any other 4xx, a `GeneratorError` names the URL and what came back. The round's adapter is
chosen by model name, as ``vllm serve --enable-lora --lora-modules NAME=DIR`` exposes it.

``SamplingConfig.chat=None`` means plain completions here (a server's tokenizer cannot be
inspected). Token counts come from the per-choice logprobs the request asks for (vLLM and
OpenAI return one entry per generated token); when a server omits them, the usage total is
split evenly over the choices.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from codealign.errors import GeneratorError
from codealign.generator.protocol import Completion, FinishReason, SamplingConfig

__all__ = ["OpenAIGenerator"]

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIGenerator:
    """Sample from an OpenAI-compatible server.

    Args:
        model: the served base model's name.
        base_url: server root, e.g. ``http://127.0.0.1:8000`` (a trailing ``/v1`` is fine).
        api_key: sent as a bearer token if given.
        concurrency: requests in flight at once.
        timeout_s: per-request timeout.
        retries: retries after the first attempt, for transient failures.
        backoff_s: first backoff; doubles each retry.
    """

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000",
                 api_key: str | None = None, concurrency: int = 8, timeout_s: float = 120.0,
                 retries: int = 4, backoff_s: float = 0.5) -> None:
        import httpx

        if concurrency < 1 or retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise GeneratorError(f"bad client settings: concurrency={concurrency}, "
                                 f"retries={retries}, timeout_s={timeout_s}, backoff_s={backoff_s}")
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.model, self.concurrency = model, concurrency
        self.retries, self.backoff_s = retries, backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def uses_chat(self, params: SamplingConfig) -> bool:
        return bool(params.chat)

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        url = self.base_url + path
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(url, json=body)
            except httpx.TransportError as exc:  # refused, reset, timed out
                last = f"{type(exc).__name__}: {exc}"
                continue
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
        raise GeneratorError(f"no answer from {url} after {self.retries + 1} attempts "
                             f"({last})")

    def _one(self, prompt: str, n: int, params: SamplingConfig, seed: int | None,
             model: str) -> list[Completion]:
        body: dict = {"model": model, "n": n, "temperature": params.temperature,
                      "top_p": params.top_p, "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        if params.chat:
            body.update(messages=[{"role": "user", "content": prompt}], logprobs=True,
                        top_logprobs=0)
            answer = self._post("/chat/completions", body)
        else:
            body.update(prompt=prompt, logprobs=0)
            answer = self._post("/completions", body)
        try:
            choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
            usage = (answer.get("usage") or {}).get("completion_tokens", 0)
            result = []
            for choice in choices:
                text = choice["message"]["content"] if params.chat else choice["text"]
                result.append(Completion(text or "", _tokens(choice, usage // max(len(choices), 1)),
                                         FinishReason.of(choice.get("finish_reason"))))
        except (KeyError, TypeError) as exc:
            raise GeneratorError(f"{self.base_url}: unexpected answer shape "
                                 f"({exc!r}): {str(answer)[:200]}") from exc
        if len(result) != n:
            raise GeneratorError(f"{self.base_url}: asked for n={n} choices, got {len(result)}")
        return result

    def generate(self, prompts: list[str], n: int, params: SamplingConfig,
                 adapter: str | None = None) -> list[list[Completion]]:
        model = adapter or self.model
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._one, p, n, params, params.prompt_seed(i), model)
                       for i, p in enumerate(prompts)]
            return [f.result() for f in futures]

    def close(self) -> None:
        self._client.close()


def _tokens(choice: dict, fallback: int) -> int:
    """Generated tokens of one choice, from its logprobs (completions or chat shape)."""
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("tokens") is not None:
        return len(logprobs["tokens"])
    if logprobs.get("content") is not None:
        return len(logprobs["content"])
    return fallback
