"""``Idempotency-Key`` on POST: the same key and body get the first response again; the same
key with another body is a 422; a retry while the first is still being handled is a 409.

Records are per caller (API key) and endpoint, kept in the store so replicas share them.
An in-progress record names the process handling it (``host:pid``): a service that starts
clears the in-progress records of its host's processes that are gone (a ``kill -9`` mid-
request leaves one), and one older than `IN_FLIGHT_S` (a replica on another host died) is
taken over by the next request with that key. Every request is far shorter than that: the
slowest, ``POST /v1/runs``, waits at most a minute for its worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from codealign.service.errors import Conflict, Unprocessable
from codealign.service.store.db import Database
from codealign.service.store.models import IdempotencyRecord, utcnow

__all__ = ["IdempotencyKey", "Idempotency", "clear_abandoned", "IN_FLIGHT_S"]

IN_FLIGHT_S = 600.0
HOLDER = f"{socket.gethostname()}:{{pid}}"


def _holder() -> str:
    return HOLDER.format(pid=os.getpid())[:300]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_abandoned(db: Database) -> int:
    """Delete the in-progress records of this host's processes that no longer exist (a
    service killed mid-request); returns how many. Called when the service starts."""
    host = socket.gethostname()
    with db.session() as session:
        stale = [r for r in session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.state == "in_progress")) if _abandoned_here(r.holder, host)]
        for record in stale:
            session.delete(record)
        session.commit()
    return len(stale)


def _abandoned_here(holder: str | None, host: str) -> bool:
    if not holder:                   # written before holders were recorded
        return True
    name, _, pid = holder.rpartition(":")
    return name == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                             description="Retries with the same key and body "
                                                         "get the first response again.")]


class Idempotency:
    """One request's idempotency record (a no-op without a key)."""

    def __init__(self, db: Database, owner: str, endpoint: str, key: str | None, payload: Any) -> None:
        self.db, self.owner, self.endpoint, self.key = db, owner, endpoint, key
        self.request_hash = "" if key is None else hashlib.sha256(
            json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def _where(self):
        return ((IdempotencyRecord.owner == self.owner) & (IdempotencyRecord.endpoint == self.endpoint)
                & (IdempotencyRecord.key == self.key))

    @classmethod
    def of(cls, request: Request, owner: str, key: str | None, body: BaseModel | None) -> "Idempotency":
        """The record for this route, caller and key; `body` is the request body compared."""
        endpoint = f"{request.method} {request.scope['route'].path}"
        return cls(request.app.state.db, owner, endpoint, key,
                   body.model_dump(mode="json") if body is not None and key is not None else None)

    def respond(self, handle: Callable[[], tuple[JSONResponse, Any]]) -> JSONResponse:
        """Replay the stored response, or run `handle` (returning the response and its JSON
        body) and store what it returned. A failed `handle` frees the key."""
        replay = self.begin()
        if replay is not None:
            return replay
        try:
            response, body = handle()
        except BaseException:
            self.abandon()
            raise
        return self.finish(response, body)

    def begin(self) -> JSONResponse | None:
        """Claim the key; return the stored response for a finished identical request."""
        if self.key is None:
            return None
        with self.db.session() as session:
            session.add(IdempotencyRecord(owner=self.owner, endpoint=self.endpoint, key=self.key,
                                          request_hash=self.request_hash, state="in_progress",
                                          holder=_holder()))
            try:
                session.commit()
                return None
            except IntegrityError:
                session.rollback()
            record = session.scalar(select(IdempotencyRecord).where(self._where()))
        if record is None:        # finished and abandoned in between: treat as new
            return self.begin()
        if record.state != "done" and record.created_at < utcnow() - timedelta(seconds=IN_FLIGHT_S):
            self.abandon()           # its handler died long ago: handle this one afresh
            return self.begin()
        if record.request_hash != self.request_hash:
            raise Unprocessable("this Idempotency-Key was used with a different request body")
        if record.state != "done":
            raise Conflict("a request with this Idempotency-Key is still in progress")
        headers = {"Idempotent-Replayed": "true"}
        if record.location:
            headers["Location"] = record.location
        return JSONResponse(record.body, status_code=record.status_code or 200, headers=headers)

    def finish(self, response: JSONResponse, body: Any) -> JSONResponse:
        if self.key is not None:
            with self.db.session() as session:
                record = session.scalar(select(IdempotencyRecord).where(self._where()))
                record.state, record.status_code, record.body = "done", response.status_code, body
                record.location = response.headers.get("location")
                session.commit()
        return response

    def abandon(self) -> None:
        """The request failed: free the key so that a retry is handled afresh."""
        if self.key is not None:
            with self.db.session() as session:
                session.execute(delete(IdempotencyRecord).where(self._where()))
                session.commit()
