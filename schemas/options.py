"""Solve options common to every problem kind."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.arrays import ArrayFormat


class SolveOptions(BaseModel):
    """What the caller may tune; ``None`` means the problem kind's default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tol: float | None = Field(
        default=None, gt=0, lt=1, description="Stopping tolerance on the kind's certificate."
    )
    max_iter: int | None = Field(default=None, ge=1, le=100_000_000)
    time_limit_s: float | None = Field(
        default=None, gt=0, description="Wall-clock limit; capped by the server's setting."
    )
    trace_every: int | None = Field(
        default=None, ge=1, description="Record every k-th iteration in the trace."
    )
    array_format: ArrayFormat = Field(
        default="list", description="Form of arrays in the result: nested lists or base64."
    )


class KindDefaults(BaseModel):
    """A problem kind's default options (shown by ``GET /v1/solvers``)."""

    model_config = ConfigDict(frozen=True)

    tol: float = 1e-6
    max_iter: int = 10_000
    trace_every: int = 1

    def resolve(self, given: SolveOptions, *, time_limit_s: float) -> dict[str, Any]:
        """The effective options of one job: given values over these defaults."""
        return {
            "tol": given.tol if given.tol is not None else self.tol,
            "max_iter": given.max_iter if given.max_iter is not None else self.max_iter,
            "time_limit_s": time_limit_s,
            "trace_every": given.trace_every if given.trace_every is not None else self.trace_every,
            "array_format": given.array_format,
        }
