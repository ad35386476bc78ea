"""The one result record every solver returns (modelled on ``scipy.optimize.OptimizeResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SolverStatus(StrEnum):
    """Why a solver stopped."""

    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    TIME_LIMIT = "time_limit"
    CANCELLED = "cancelled"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NUMERICAL_ERROR = "numerical_error"


@dataclass
class SolverResult:
    """Outcome of one solve.

    Attributes
    ----------
    status
        Why the solver stopped; only ``CONVERGED`` means the certificate met the tolerance.
    objective
        Objective value at the returned iterate (the problem's own, unscaled convention).
    iterations
        Iterations performed.
    solve_time_s
        Wall time spent in the solver.
    certificate
        Optimality measures at the returned iterate, e.g. ``{"duality_gap": ..}``; always present,
        whatever the status, so a caller can judge a non-converged iterate.
    solution
        Kind-specific arrays and scalars, e.g. ``{"x": array}``; arrays stay in the solver's
        array module (numpy or cupy).
    message
        Human-readable explanation of the status.
    """

    status: SolverStatus
    objective: float
    iterations: int
    solve_time_s: float
    certificate: dict[str, float]
    solution: dict[str, Any]
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.status is SolverStatus.CONVERGED
