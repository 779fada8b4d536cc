"""Typed dependencies: one DB session per request, the settings, the service state, and the
caller (`Caller`) checked against the scope a route needs.

They are all ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, one
thread hand-off (and GIL hand-over) each, which cost more CPU than the rest of a small request.
A session opens no connection until its first query; the scope check asks the store only in
open mode (in a session of its own), or when a key's cached verification has expired
(`Settings.key_cache_ttl_s`), and then in the thread pool.

Auth: ``Authorization: Bearer ca_...``. While the store has never held a key the API is open
(as admin) to loopback clients only (`codealign serve` then binds only to loopback); once one
key exists, every route but ``/healthz`` needs a key of a large enough scope: none, unknown or
revoked -> 401, too small -> 403.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from codealign.service.errors import Forbidden, Unauthorized
from codealign.service.settings import Settings, is_loopback
from codealign.service.store.keys import any_keys, find_key, key_hash, split_key, touch_key
from codealign.service.store.models import Scope, utcnow

__all__ = ["SessionDep", "SettingsDep", "StateDep", "Caller", "ReadCaller", "WriteCaller",
           "AdminCaller", "require", "KeyCache", "bearer_token"]


async def get_session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.db.sessions() as session:
        yield session


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_state(request: Request):
    return request.app.state


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[object, Depends(get_state)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: `owner` names the key (``key:<id>``; ``open`` without auth), for
    idempotency records and the validation queue's fair share."""

    owner: str
    scope: Scope


OPEN = Caller("open", Scope.ADMIN)


def bearer_token(header: str) -> str | None:
    """The token of ``Bearer <token>`` (any case, any whitespace around), or None."""
    parts = header.split(None, 1)
    return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else None


@dataclass
class _Verified:
    key_hash: str
    caller: Caller
    checked: float       # time.monotonic() of the store's answer
    touched: float       # ... of the last `last_used_at` written


class KeyCache:
    """Verified keys by key id (at most `SIZE`, least recently used dropped first), each
    trusted for `ttl_s` before the store is asked again: a key revoked anywhere fails within
    `ttl_s`; one revoked through this process (`forget`) fails at once. A header is reduced to
    its key before anything is cached, so spellings of one header share one entry, and a
    malformed key is refused without a lookup. `last_used_at` is written once a `TOUCH_S`."""

    SIZE = 1024
    TOUCH_S = 60.0

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self.keyed = False          # a key exists (never reset: revoked keys keep their rows)
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, token: str) -> Caller | None:
        """The caller for `token` from a fresh entry, or None (ask `verify`)."""
        key_id = split_key(token)
        if key_id is None:
            raise Unauthorized("unknown API key")
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None or time.monotonic() - entry.checked > self.ttl_s:
                return None
            self._entries.move_to_end(key_id)
        if not hmac.compare_digest(key_hash(token), entry.key_hash):
            raise Unauthorized("unknown API key")
        return entry.caller

    def verify(self, db, token: str) -> Caller:
        """Ask the store (blocking: call it in a thread); `Unauthorized` for an unknown or
        revoked key."""
        key_id = split_key(token)
        if key_id is None:
            raise Unauthorized("unknown API key")
        with db.session() as session:
            row = find_key(session, key_id)
            if row is None or row.revoked_at is not None:
                self.forget(key_id)
                raise Unauthorized("unknown API key")
            if not hmac.compare_digest(row.key_hash, key_hash(token)):
                raise Unauthorized("unknown API key")     # a guess: the real key stays cached
            now = time.monotonic()
            with self._lock:
                previous = self._entries.get(row.prefix)
            touched = previous.touched if previous is not None else 0.0
            if now - touched > self.TOUCH_S:
                touch_key(session, row.prefix, utcnow())
                touched = now
        caller = Caller(f"key:{row.prefix}", Scope(row.scope))
        with self._lock:
            self._entries[row.prefix] = _Verified(row.key_hash, caller, now, touched)
            self._entries.move_to_end(row.prefix)
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)
            self.keyed = True
        return caller

    def check(self, db, token: str) -> Caller:
        """`cached` or else `verify` (blocking)."""
        return self.cached(token) or self.verify(db, token)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries.pop(key_id, None)

    def is_open(self, session: Session) -> bool:
        """Whether the API is open (no key was ever stored); asks the store while it is."""
        if not self.keyed:
            self.keyed = any_keys(session)
        return not self.keyed


def open_caller(request: Request) -> Caller:
    """The open mode's caller, for a loopback client only."""
    client = request.client.host if request.client else ""
    if not is_loopback(client):
        raise Unauthorized("this service has no API key yet: it answers loopback clients only")
    return OPEN


def require(needed: Scope):
    """A dependency that returns the Caller if its key's scope allows `needed`."""

    async def check(request: Request) -> Caller:
        keys: KeyCache = request.app.state.keys
        header = request.headers.get("authorization", "")
        if not header:
            if not keys.keyed:
                # A session of its own: the request's would hold its connection as long as the
                # response lasts (an event stream: hours).
                with request.app.state.db.session() as session:
                    is_open = keys.is_open(session)
                if is_open:
                    return open_caller(request)
            raise Unauthorized("this endpoint needs an API key: Authorization: Bearer <key>")
        token = bearer_token(header)
        if token is None:
            raise Unauthorized("the Authorization header must be: Bearer <key>")
        caller = keys.cached(token) or await run_in_threadpool(keys.verify, request.app.state.db, token)
        if not caller.scope.allows(needed):
            raise Forbidden(f"this endpoint needs scope {needed.value!r}; the key has {caller.scope.value!r}")
        return caller

    return check


ReadCaller = Annotated[Caller, Depends(require(Scope.READ))]
WriteCaller = Annotated[Caller, Depends(require(Scope.WRITE))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
