"""API keys: create (shown once), authenticate by hash, revoke. Each key is a tenant."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.errors import NotFound, Unauthorized
from app.keys import repository
from app.keys.models import ApiKey
from app.timeutil import utcnow

#: The tenant of every request when auth is off (a loopback-only embedded run).
ANONYMOUS_TENANT = "anonymous"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    key_name: str


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens: a plain SHA-256 is enough (no dictionary to attack), and it
    # allows lookup by hash with an index.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """Create a key; return the row and the secret, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = f"optaas_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        prefix=prefix,
        key_hash=hash_key(secret),
        created_at=utcnow(),
    )
    repository.add(session, key)
    return key, secret


#: How long a verified key is trusted without asking the database again; a revocation takes
#: effect on every API process within this time.
AUTH_CACHE_TTL_S = 10.0
_verified: dict[str, tuple[Caller, float]] = {}


def authenticate(session: Session, authorization: str | None) -> Caller:
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header (expected 'Bearer <api key>')")
    digest = hash_key(token.strip())
    cached = _verified.get(digest)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    key = repository.by_hash(session, digest)
    if key is None:
        _verified.pop(digest, None)
        raise Unauthorized("unknown or revoked API key")
    caller = Caller(tenant_id=key.id, key_name=key.name)
    if len(_verified) > 10_000:  # bounded: unknown keys are never cached, known ones are few
        _verified.clear()
    _verified[digest] = (caller, time.monotonic() + AUTH_CACHE_TTL_S)
    return caller


def revoke_key(session: Session, ident: str) -> ApiKey:
    key = repository.by_id_or_prefix(session, ident)
    if key is None:
        raise NotFound(f"no API key {ident!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key
