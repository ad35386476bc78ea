"""Queries on API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.keys.models import ApiKey


def add(session: Session, key: ApiKey) -> None:
    session.add(key)
    session.flush()


def by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )


def all_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def by_id_or_prefix(session: Session, ident: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where((ApiKey.id == ident) | (ApiKey.prefix == ident)))
