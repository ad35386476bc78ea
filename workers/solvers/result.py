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


def stop_message(
    status: SolverStatus,
    *,
    measure: str,
    value: float,
    tol: float,
    iterations: int,
    max_iter: int,
    returned: str,
    failure: str = "",
) -> str:
    """The one wording of why a solver stopped, shared by every family.

    ``measure`` names the certificate compared with ``tol`` and ``value`` is its value at the
    returned iterate, which ``returned`` describes (e.g. "the lowest-objective iterate").
    """
    if status is SolverStatus.CONVERGED:
        return f"{measure} {value:.3e} <= tol {tol:.1e} after {iterations} iterations"
    if status is SolverStatus.MAX_ITER:
        return (
            f"max_iter={max_iter} reached; returning {returned}, {measure} {value:.3e} "
            f"> tol {tol:.1e}"
        )
    if status is SolverStatus.NUMERICAL_ERROR:
        return f"{failure or 'numerical failure'}; returning {returned}, {measure} {value:.3e}"
    reason = "cancelled" if status is SolverStatus.CANCELLED else "time limit reached"
    return f"{reason} after {iterations} iterations; returning {returned}, {measure} {value:.3e}"
