"""API keys: ``ca_<prefix>_<secret>``, shown once; the store keeps the prefix and the
SHA-256 of the whole key (a random 192-bit secret needs no slow hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from codealign.service.store.models import ApiKey, Scope

__all__ = ["create_key", "verify_key", "any_keys"]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, scope: Scope, name: str = "") -> str:
    """Store a new key of `scope` and return it (the only time it is ever visible)."""
    prefix = secrets.token_hex(6)
    key = f"ca_{prefix}_{secrets.token_urlsafe(24)}"
    session.add(ApiKey(prefix=prefix, key_hash=_hash(key), scope=scope.value, name=name))
    session.commit()
    return key


def verify_key(session: Session, key: str) -> ApiKey | None:
    """The stored key matching `key`, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "ca":
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row


_ANY_KEY = select(ApiKey.pk).limit(1)   # asked on every request while no key exists


def any_keys(session: Session) -> bool:
    return session.scalar(_ANY_KEY) is not None
