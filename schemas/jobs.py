"""Job resources: the submission body, the job as returned, pages and trace points."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from schemas.errors import JobError
from schemas.options import SolveOptions
from schemas.problems import KINDS, Problem

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Device = Literal["auto", "cpu", "gpu"]
SolverStatusName = Literal[
    "converged",
    "max_iter",
    "time_limit",
    "cancelled",
    "infeasible",
    "unbounded",
    "numerical_error",
]


class JobCreate(BaseModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    problem: Problem
    options: SolveOptions = Field(default_factory=SolveOptions)
    device: Device = "auto"
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("problem", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        # One clear error instead of every field of every kind reported missing.
        if not isinstance(value, dict):
            raise PydanticCustomError("problem_type", "problem must be an object with a `kind`", {})
        kind = value.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise PydanticCustomError(
                "unknown_kind",
                "unknown problem kind {kind}; known kinds: {known}",
                {"kind": repr(kind), "known": ", ".join(sorted(KINDS))},
            )
        return value


class JobResult(BaseModel):
    """What a finished solve produced, with the certificate that lets the caller judge it."""

    status: SolverStatusName
    objective: float | None
    iterations: int
    solve_time_s: float
    certificate: dict[str, float | None]
    solution: dict[str, Any]
    message: str = ""


class JobResource(BaseModel):
    """A job as ``GET /v1/jobs/{id}`` returns it."""

    id: str
    kind: str
    status: JobStatus
    device: Device
    queue: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    options: dict[str, Any]
    progress: dict[str, Any] | None
    result: JobResult | None
    error: JobError | None
    metadata: dict[str, Any]


class JobPage(BaseModel):
    items: list[JobResource]
    next_cursor: str | None


class TracePointOut(BaseModel):
    """One point of a convergence trace; kind-specific measures sit beside the common fields."""

    model_config = ConfigDict(extra="allow")

    iteration: int
    elapsed_s: float
    objective: float | None
