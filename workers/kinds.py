"""The solver plug-in table: problem kind -> function that turns a validated spec into a result.

A new family adds its spec to ``schemas.problems.SPECS`` and its entry here; nothing else in the
service changes. An entry moves the spec's arrays to the device's array module (``xp``) and calls
the pure solver with the job's options and monitor.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from schemas.problems import LassoProblem, ProblemSpec
from workers.solvers.lasso import solve_lasso
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult

Solve = Callable[[Any, dict[str, Any], Monitor, ModuleType], SolverResult]


def _lasso(
    spec: LassoProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_lasso(
        xp.asarray(spec.A),
        xp.asarray(spec.b),
        spec.lam,
        tol=options["tol"],
        max_iter=options["max_iter"],
        monitor=monitor,
    )


SOLVERS: dict[str, Solve] = {
    "lasso": _lasso,
}


def solver_for(spec: ProblemSpec) -> Solve:
    return SOLVERS[spec.kind]  # type: ignore[attr-defined]
