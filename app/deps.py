"""Request dependencies as ``Annotated`` aliases; the unit of work (commit/rollback) lives here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.errors import PayloadTooLarge
from app.keys import service as keys
from app.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with unit_of_work(settings.resolved_database_url) as session:
        yield session


# scope="function": commit before the response leaves, so a client never reads stale state.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def authenticate(
    session: DbSession,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> keys.Caller:
    if not settings.auth_enabled:
        return keys.Caller(tenant_id=keys.ANONYMOUS_TENANT, key_name="anonymous")
    return keys.authenticate(session, authorization)


CurrentCaller = Annotated[keys.Caller, Depends(authenticate)]


async def read_body(request: Request, settings: SettingsDep) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds the limit (before parsing)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(read_body)]
