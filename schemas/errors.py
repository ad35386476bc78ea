"""The one error body every 4xx/5xx answer carries."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


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


def spec_error(
    loc: tuple[str | int, ...], message: str, kind: str = "invalid_problem"
) -> Exception:
    """A rule spanning several fields, reported at the location a caller should fix."""
    detail = InitErrorDetails(
        type=PydanticCustomError(kind, "{message}", {"message": message}), loc=loc, input=None
    )
    return ValidationError.from_exception_data("problem", [detail])
