"""API keys: ``ca_<id>_<secret>``, shown once; the store keeps the id (a public prefix) and
the SHA-256 of the whole key (a random 192-bit secret needs no slow hash).

A key is revoked by setting `ApiKey.revoked_at`; its row stays, so the id is never reused and
the API never falls back to open mode (open mode is for a store that never held a key)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codealign.service.store.models import ApiKey, Scope, utcnow

__all__ = ["create_key", "find_key", "verify_key", "any_keys", "list_keys", "revoke_key", "touch_key",
           "key_hash", "split_key", "KEY_ID", "MAX_KEY_CHARS"]

KEY_ID = r"^[0-9a-f]{12}$"
MAX_KEY_CHARS = 128
_KEY = re.compile(r"ca_([0-9a-f]{12})_[A-Za-z0-9_-]{16,64}")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The id of a well-formed key, or None (nothing looked up for a malformed one)."""
    match = _KEY.fullmatch(key) if len(key) <= MAX_KEY_CHARS else None
    return match.group(1) if match else None


def create_key(session: Session, scope: Scope, name: str = "") -> str:
    """Store a new key of `scope` and return it (the only time it is ever visible)."""
    prefix = secrets.token_hex(6)
    key = f"ca_{prefix}_{secrets.token_urlsafe(24)}"
    session.add(ApiKey(prefix=prefix, key_hash=key_hash(key), scope=scope.value, name=name))
    session.commit()
    return key


def find_key(session: Session, key_id: str) -> ApiKey | None:
    """The stored key with id `key_id` (revoked or not), or None."""
    return session.scalar(select(ApiKey).where(ApiKey.prefix == key_id))


def verify_key(session: Session, key: str) -> ApiKey | None:
    """The stored, unrevoked key matching `key`, or None."""
    prefix = split_key(key)
    row = find_key(session, prefix) if prefix is not None else None
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, key_hash(key)):
        return None
    return row


_ANY_KEY = select(ApiKey.pk).limit(1)   # asked on every request while no key exists


def any_keys(session: Session) -> bool:
    """Whether the store ever held a key (revoked ones count: they close the open mode too)."""
    return session.scalar(_ANY_KEY) is not None


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.pk)))


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Revoke the key with id `key_id` (idempotent); None when there is no such key."""
    row = find_key(session, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def touch_key(session: Session, key_id: str, when: datetime) -> None:
    """Record that key `key_id` was used at `when`."""
    session.execute(update(ApiKey).where(ApiKey.prefix == key_id).values(last_used_at=when))
    session.commit()
