"""Optimal transport: the ``ot`` kind."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from schemas.problems import OTProblem
from schemas.problems.ot import SNS_BELOW_EPSILON
from workers.solvers.monitor import Monitor
from workers.solvers.ot.costs import cost_scale_factor, pairwise_cost
from workers.solvers.ot.exact import exact_ot
from workers.solvers.ot.sinkhorn import sinkhorn_log, sinkhorn_unbalanced_log
from workers.solvers.ot.sns import sinkhorn_newton_sparse
from workers.solvers.result import SolverResult


def solve_ot(
    spec: OTProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    a, b = xp.asarray(spec.a), xp.asarray(spec.b)
    if spec.normalize:
        a, b = a / a.sum(), b / b.sum()
    if spec.cost is not None:
        C = xp.asarray(spec.cost)
    else:
        C = pairwise_cost(xp.asarray(spec.x), xp.asarray(spec.y), spec.metric)
    scale = cost_scale_factor(C, spec.cost_scale)
    if scale != 1.0:
        C = C / scale
    tol, max_iter = options["tol"], options["max_iter"]
    method = spec.method
    if method == "auto":
        small = spec.epsilon is not None and spec.epsilon < SNS_BELOW_EPSILON * float(C.max())
        method = "sns" if small and spec.unbalanced is None else "sinkhorn"
    eps = float(spec.epsilon or 0.0)
    if method == "exact":
        result = exact_ot(a, b, C, monitor=monitor)
    elif spec.unbalanced is not None:
        result = sinkhorn_unbalanced_log(
            a,
            b,
            C,
            eps,
            spec.unbalanced.tau_a,
            spec.unbalanced.tau_b,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
        )
    elif method == "sns":
        result = sinkhorn_newton_sparse(a, b, C, eps, tol=tol, max_iter=max_iter, monitor=monitor)
    else:
        result = sinkhorn_log(
            a,
            b,
            C,
            eps,
            tol=tol,
            max_iter=max_iter,
            eps_scaling=spec.epsilon_scaling,
            monitor=monitor,
        )
    result.solution = _format_plan(result.solution, spec, xp)
    result.solution.update(method=method, cost_scale_factor=scale)
    return result


def _format_plan(solution: dict[str, Any], spec: OTProblem, xp: ModuleType) -> dict[str, Any]:
    """The plan as the caller asked: dense, sparse COO above a threshold, or not at all."""
    out = {k: v for k, v in solution.items() if k != "plan"}
    plan = solution.get("plan")
    if plan is None or spec.plan_format == "none":
        return out
    if spec.plan_format == "dense":
        out["plan"] = plan
        return out
    rows, cols = xp.nonzero(plan > spec.plan_threshold)
    values = plan[rows, cols]
    total = float(plan.sum())
    out["plan"] = {
        "shape": [int(plan.shape[0]), int(plan.shape[1])],
        "rows": rows,
        "cols": cols,
        "values": values,
        "mass": float(values.sum()),
        "mass_fraction": float(values.sum()) / total if total > 0 else 0.0,
    }
    return out
