"""``/v1/keys`` (admin): list the API keys, create one (its secret is in that answer only),
revoke one. Revocation takes effect at once in this process and within
`Settings.key_cache_ttl_s` in every other (the CLI's ``codealign keys revoke`` included).

A created key is never stored in an idempotency record (it is the secret): `POST /v1/keys`
takes no ``Idempotency-Key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from codealign.service.api.deps import AdminCaller, SessionDep
from codealign.service.api.errors import PROBLEM_RESPONSES
from codealign.service.errors import NotFound
from codealign.service.store.keys import KEY_ID, create_key, find_key, list_keys, revoke_key, split_key
from codealign.service.store.models import ApiKey, Scope

router = APIRouter(prefix="/v1/keys", tags=["keys"])
KeyId = Annotated[str, PathParam(pattern=KEY_ID, description="The key's id (the 12 hex digits after ca_).")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope
    name: str = Field("", max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$", description="A label.")


class KeyPublic(BaseModel):
    id: str
    scope: Scope
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown in this answer only.")


class KeyList(BaseModel):
    items: list[KeyPublic]


def key_public(row: ApiKey) -> KeyPublic:
    return KeyPublic(id=row.prefix, scope=Scope(row.scope), name=row.name, created_at=row.created_at,
                     last_used_at=row.last_used_at, revoked_at=row.revoked_at)


@router.get("", response_model=KeyList)
def get_keys(session: SessionDep, _: AdminCaller) -> KeyList:
    """Every key, revoked ones too, oldest first (never a secret)."""
    return KeyList(items=[key_public(row) for row in list_keys(session)])


@router.post("", status_code=201, response_model=KeyCreated)
def post_key(body: KeyCreate, request: Request, session: SessionDep, _: AdminCaller) -> KeyCreated:
    """Create a key (201); the answer holds the key, which is never shown again."""
    key = create_key(session, body.scope, body.name)
    request.app.state.keys.keyed = True            # the open mode ends with the first key
    return KeyCreated(**key_public(find_key(session, split_key(key))).model_dump(), key=key)


@router.delete("/{key_id}", response_model=KeyPublic, responses={404: PROBLEM_RESPONSES[404]})
def delete_key(key_id: KeyId, request: Request, session: SessionDep, _: AdminCaller) -> KeyPublic:
    """Revoke a key: its next request gets 401 (idempotent; the record stays, listed)."""
    row = revoke_key(session, key_id)
    if row is None:
        raise NotFound(f"no key {key_id!r}")
    request.app.state.keys.forget(key_id)
    return key_public(row)
