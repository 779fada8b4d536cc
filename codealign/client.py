"""A small Python client of the codealign service (httpx), used by the CLI and the tests.

>>> from codealign.client import Client                       # doctest: +SKIP
>>> with Client("http://127.0.0.1:8000", api_key="ca_...") as c:
...     task = c.submit_task({"prompt": "...", "entry_point": "f", "tests": "...", "reference": "..."})
...     c.wait_task(task["task_id"])["status"]
'active'

Errors: every non-2xx answer raises `ApiError` with the problem+json document.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from codealign.errors import CodealignError

__all__ = ["Client", "ApiError", "ServiceUnreachable", "task_payload"]


class ServiceUnreachable(CodealignError):
    """No answer from the service (refused, timed out, name unknown)."""


class ApiError(CodealignError):
    """The service answered with an error; `status`, `problem` (the RFC 9457 document)."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: float | None = None) -> None:
        self.status, self.problem, self.retry_after = status, problem, retry_after
        detail = problem.get("detail") or problem.get("title") or ""
        super().__init__(f"HTTP {status}: {detail}")


def task_payload(task) -> dict[str, Any]:
    """A `codealign.tasks.Task` as the body of POST /v1/tasks."""
    return {"task_id": task.task_id, "prompt": task.prompt, "entry_point": task.entry_point,
            "tests": task.tests, "reference": task.reference, "prompt_style": task.prompt_style,
            "setup": task.setup, "perf_inputs": list(task.perf_inputs), "tags": list(task.tags),
            "limits": {"timeout_s": task.timeout_s, "memory_mb": task.memory_mb},
            "source": task.source or "api"}


class Client:
    """`base_url` of the service; `api_key` default: ``$CODEALIGN_API_KEY``."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        api_key = api_key if api_key is not None else os.environ.get("CODEALIGN_API_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"cannot reach the service at {self.http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            retry = response.headers.get("retry-after")
            raise ApiError(response.status_code, problem, float(retry) if retry else None)
        return response

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self.request(method, path, **kwargs).json()

    @staticmethod
    def _idem(key: str | None) -> dict[str, str]:
        return {"Idempotency-Key": key} if key else {}

    # -- info ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def info(self) -> dict[str, Any]:
        return self._json("GET", "/v1/info")

    # -- tasks ---------------------------------------------------------------------------
    def submit_task(self, task: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._json("POST", "/v1/tasks", json=task, headers=self._idem(idempotency_key))

    def submit_batch(self, tasks: list[dict[str, Any]], *, idempotency_key: str | None = None,
                     retry_busy_s: float = 300.0) -> list[dict[str, Any]]:
        """One result per task (in order); waits out 503s (full validation queue) up to `retry_busy_s`."""
        deadline = time.monotonic() + retry_busy_s
        while True:
            try:
                return self._json("POST", "/v1/tasks/batch", json={"tasks": tasks},
                                  headers=self._idem(idempotency_key))["results"]
            except ApiError as exc:
                if exc.status != 503 or time.monotonic() > deadline:
                    raise
                time.sleep(min(exc.retry_after or 1.0, 10.0))

    def get_task(self, task_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/tasks/{task_id}")

    def retire_task(self, task_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/v1/tasks/{task_id}")

    def list_tasks(self, *, limit: int = 100, after: int | None = None, **filters) -> dict[str, Any]:
        params = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
        if after is not None:
            params["after"] = after
        return self._json("GET", "/v1/tasks", params=params)

    def iter_tasks(self, *, limit: int = 100, **filters) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            page = self.list_tasks(limit=limit, after=after, **filters)
            yield from page["items"]
            if not page["has_more"]:
                return
            after = page["next"]

    def wait_task(self, task_id: str, timeout: float = 120.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll until the task leaves `validating` (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task["status"] != "validating":
                return task
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still validating after {timeout:g}s")
            time.sleep(poll)

    # -- keys (admin) --------------------------------------------------------------------
    def list_keys(self) -> list[dict[str, Any]]:
        """Every API key, revoked ones too (never a secret)."""
        return self._json("GET", "/v1/keys")["items"]

    def create_key(self, scope: str, name: str = "") -> dict[str, Any]:
        """A new key of `scope` (read, write, admin); its ``key`` is in this answer only."""
        return self._json("POST", "/v1/keys", json={"scope": scope, "name": name})

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        """Revoke the key `key_id` (its 12 hex digits); its next request gets 401."""
        return self._json("DELETE", f"/v1/keys/{key_id}")

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, config: str, *, name: str | None = None, overrides: dict | None = None,
                  tasks: str = "config", parent_run: str | None = None,
                  idempotency_key: str | None = None) -> dict[str, Any]:
        body = {"config": config, "overrides": overrides or {}, "tasks": tasks}
        if name:
            body["name"] = name
        if parent_run:
            body["parent_run"] = parent_run
        return self._json("POST", "/v1/runs", json=body, headers=self._idem(idempotency_key))

    def list_runs(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/runs")["items"]

    def get_run(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/runs/{name}")

    def cancel_run(self, name: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/runs/{name}/cancel")

    def resume_run(self, name: str, rounds: int | None = None) -> dict[str, Any]:
        return self._json("POST", f"/v1/runs/{name}/resume", json={"rounds": rounds})

    def wait_run(self, name: str, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(name)
            if run["status"] in ("succeeded", "failed", "canceled", "interrupted"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {name} still {run['status']} after {timeout:g}s")
            time.sleep(poll)

    def rounds(self, name: str) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/runs/{name}/rounds")

    def round(self, name: str, k: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/runs/{name}/rounds/{k}")

    def pairs(self, name: str, k: int, **params) -> dict[str, Any]:
        return self._json("GET", f"/v1/runs/{name}/rounds/{k}/pairs", params=params)

    def task_results(self, name: str, k: int) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/runs/{name}/rounds/{k}/tasks")["items"]

    def pass_rates(self, run: str, round: int, base: int = 0, **params) -> dict[str, Any]:
        return self._json("GET", "/v1/metrics/pass-rates",
                          params={"run": run, "round": round, "base": base, **params})

    def events(self, name: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """The run's events (Server-Sent Events) until the run ends."""
        with self.http.stream("GET", f"/v1/runs/{name}/events", params={"after": after},
                              timeout=httpx.Timeout(self.http.timeout.connect, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, response.json())
            yield from _parse_sse(response.iter_lines())


def _parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
