"""Timestamps are timezone-aware UTC everywhere (see ``app.db.UTCDateTime``)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
