"""The one error body every 4xx/5xx answer carries."""

from __future__ import annotations

from pydantic import BaseModel


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """``{"error": "<Type>", "detail": "...", "fields": [{"loc": [...], "msg": ".."}]}``"""

    error: str
    detail: str
    fields: list[FieldError] = []


class JobError(BaseModel):
    """Why a job failed: the error type and a human-readable detail."""

    error: str
    detail: str
