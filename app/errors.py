"""Typed domain errors carrying their HTTP status, and the handlers that render them alike."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import ErrorBody, FieldError
from schemas.problems import UNION_TAGS

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of the errors a service raises; the class name is the ``error`` field."""

    status_code: int = 400

    def __init__(self, detail: str, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = list(fields)


class Unauthorized(DomainError):
    status_code = 401


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class IdempotencyConflict(Conflict):
    pass


class JobFinished(Conflict):
    pass


class NoGpuWorker(Conflict):
    pass


class PayloadTooLarge(DomainError):
    status_code = 413


class MalformedJSON(DomainError):
    status_code = 400


class InvalidSpec(DomainError):
    status_code = 422


class NotReady(DomainError):
    status_code = 503


_VALIDATOR_TAGS = frozenset(
    {"function-after", "function-before", "function-wrap", "function-plain"}
)


def _public_loc(loc: Sequence[str | int]) -> list[str | int]:
    """Drop pydantic's union tags: ``problem.ot.b`` is ``problem.b`` to the caller."""
    out = [p for p in loc if p not in _VALIDATOR_TAGS]
    i = 0
    while i < len(out) - 1:
        tags = UNION_TAGS.get(str(out[i]))
        if tags is not None and out[i + 1] in tags:
            del out[i + 1]
        i += 1
    return out


def field_errors(errors: Sequence[Any], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """pydantic's error list as our ``fields`` entries, with ``prefix`` before each location."""
    out = []
    for err in errors:
        loc = [*prefix, *_public_loc(err.get("loc", ()))]
        out.append(FieldError(loc=loc, msg=str(err.get("msg", "")), type=err.get("type")))
    return out


def invalid_spec(exc: ValidationError, prefix: Sequence[str | int] = ("body",)) -> InvalidSpec:
    fields = field_errors(exc.errors(include_url=False, include_input=False), prefix)
    first = fields[0]
    summary = f"{'.'.join(str(p) for p in first.loc)}: {first.msg}"
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return InvalidSpec(f"invalid request: {summary}{more}", fields)


def render(status: int, error: str, detail: str, fields: Sequence[FieldError] = ()) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, fields=list(fields))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


_HTTP_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return render(exc.status_code, type(exc).__name__, exc.detail, exc.fields)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc.errors())
        if any(f.type == "json_invalid" for f in fields):
            return render(400, "MalformedJSON", "request body is not valid JSON", fields)
        detail = "; ".join(f"{'.'.join(map(str, f.loc))}: {f.msg}" for f in fields[:3])
        return render(422, "InvalidSpec", f"invalid request: {detail}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
        return render(exc.status_code, name, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reaching this is a bug on our side, never the caller's input: log it whole.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(500, "InternalError", "internal server error")
