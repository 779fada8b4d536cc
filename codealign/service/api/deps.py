"""Typed dependencies: one DB session per request, the settings, the service state, and the
caller (`Caller`) checked against the scope a route needs.

They are all ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, one
thread hand-off (and GIL hand-over) each, which cost more CPU than the rest of a small request.
None of them blocks: a session opens no connection until its first query, the scope check
queries only in open mode or for a key seen for the first time (one indexed row), and the
route itself (a plain ``def``) runs its queries in the thread pool.

Auth: ``Authorization: Bearer ca_...``. While the store holds no key at all the API is open
(the service then only binds to loopback, see `codealign serve`); once one key exists, every
route but ``/healthz`` needs a key of a large enough scope: none or unknown -> 401, too
small -> 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from codealign.service.errors import Forbidden, Unauthorized
from codealign.service.settings import Settings
from codealign.service.store.keys import any_keys, verify_key
from codealign.service.store.models import Scope

__all__ = ["SessionDep", "SettingsDep", "StateDep", "Caller", "ReadCaller", "WriteCaller",
           "AdminCaller", "require"]


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
    """Who is calling: `owner` names the key (``open`` without auth) for idempotency records."""

    owner: str
    scope: Scope


class KeyCache:
    """Keys are never changed once stored, so a verified key (and the fact that some key
    exists, which closes the open mode for good) is remembered by the app."""

    def __init__(self) -> None:
        self.keyed = False
        self.verified: dict[str, Caller] = {}

    def caller(self, session: Session, header: str) -> Caller | None:
        """The caller for an Authorization header (None: no header and no key stored)."""
        if not header:
            self.keyed = self.keyed or any_keys(session)
            if not self.keyed:
                return None
            raise Unauthorized("this endpoint needs an API key: Authorization: Bearer <key>")
        if header in self.verified:
            return self.verified[header]
        scheme, _, token = header.partition(" ")
        row = verify_key(session, token.strip()) if scheme.lower() == "bearer" else None
        if row is None:
            raise Unauthorized("unknown API key")
        caller = self.verified[header] = Caller(f"key:{row.prefix}", Scope(row.scope))
        self.keyed = True
        return caller


def require(needed: Scope):
    """A dependency that returns the Caller if its key's scope allows `needed`."""

    async def check(request: Request, session: SessionDep) -> Caller:
        caller = request.app.state.keys.caller(session, request.headers.get("authorization", ""))
        if caller is None:
            return Caller("open", Scope.ADMIN)
        scope = caller.scope
        if not scope.allows(needed):
            raise Forbidden(f"this endpoint needs scope {needed.value!r}; the key has {scope.value!r}")
        return caller

    return check


ReadCaller = Annotated[Caller, Depends(require(Scope.READ))]
WriteCaller = Annotated[Caller, Depends(require(Scope.WRITE))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
