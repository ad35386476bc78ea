"""The proximal family: lasso, elastic net, group lasso, sparse logistic regression, matrix
completion, TV denoising, constrained least squares and the generic composite kind.

On the CPU the separable and group-separable kinds run the working-set coordinate-descent
solvers (compiled inner loops); on the GPU the lasso runs FISTA, whose steps are matrix products.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from schemas.problems import (
    CompositeProblem,
    ConstrainedLeastSquaresProblem,
    ElasticNetProblem,
    GroupLassoProblem,
    LassoProblem,
    MatrixCompletionProblem,
    SparseLogregProblem,
    TVDenoiseProblem,
)
from schemas.problems.penalties import BoxSet
from workers.solvers.lasso import solve_lasso
from workers.solvers.monitor import Monitor
from workers.solvers.prox.cd import (
    solve_group_lasso,
    solve_nonconvex_regression,
    solve_sparse_logreg,
    solve_sparse_regression,
)
from workers.solvers.prox.completion import solve_matrix_completion
from workers.solvers.prox.composite import solve_composite
from workers.solvers.prox.constrained import solve_constrained_least_squares
from workers.solvers.prox.operators import CATALOGUE, ProxOperator
from workers.solvers.prox.tv import solve_tv_denoise
from workers.solvers.result import SolverResult


def _limits(options: dict[str, Any], monitor: Monitor) -> dict[str, Any]:
    return {"tol": options["tol"], "max_iter": options["max_iter"], "monitor": monitor}


def _on_host(xp: ModuleType) -> bool:
    return xp is np


def lasso(
    spec: LassoProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    if _on_host(xp):
        return solve_sparse_regression(spec.A, spec.b, spec.lam, **_limits(options, monitor))
    return solve_lasso(
        xp.asarray(spec.A), xp.asarray(spec.b), spec.lam, **_limits(options, monitor)
    )


def elastic_net(
    spec: ElasticNetProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_sparse_regression(
        spec.A, spec.b, spec.lam, l2=spec.l2, **_limits(options, monitor)
    )


def group_lasso(
    spec: GroupLassoProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_group_lasso(
        spec.A,
        spec.b,
        spec.lam,
        spec.groups.astype(np.int64),
        weights=spec.weights,
        **_limits(options, monitor),
    )


def sparse_logreg(
    spec: SparseLogregProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_sparse_logreg(spec.A, spec.y, spec.lam, **_limits(options, monitor))


def matrix_completion(
    spec: MatrixCompletionProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    result = solve_matrix_completion(
        spec.shape,
        spec.rows.astype(np.int64),
        spec.cols.astype(np.int64),
        xp.asarray(spec.values),
        spec.lam,
        **_limits(options, monitor),
    )
    if spec.solution_format == "factors":
        result.solution.pop("X", None)
    else:
        for factor in ("U", "s", "Vt"):
            result.solution.pop(factor, None)
    return result


def tv_denoise(
    spec: TVDenoiseProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_tv_denoise(
        xp.asarray(spec.y), spec.lam, variant=spec.variant, **_limits(options, monitor)
    )


def build_operator(item: Any, key: str) -> ProxOperator:
    """The catalogue operator named by a penalty or constraint model (its other fields are the
    operator's parameters)."""
    params = item.model_dump(exclude={key})
    if isinstance(item, BoxSet):
        params.update(item.bounds())
    return CATALOGUE[getattr(item, key)].build(**params)


def constrained_least_squares(
    spec: ConstrainedLeastSquaresProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return solve_constrained_least_squares(
        xp.asarray(spec.A),
        xp.asarray(spec.b),
        build_operator(spec.constraint, "type"),
        **_limits(options, monitor),
    )


def composite(
    spec: CompositeProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    penalty = spec.penalty
    # auto: the working-set CD solvers (compiled, CPU) where they serve the loss and penalty;
    # they are the fastest we have there (benchmarks/prox.py). FISTA otherwise.
    cd_auto = spec.algorithm == "auto" and xp is np and spec.cd_refusal() is None
    if spec.algorithm == "cd" or cd_auto:
        result = _coordinate_descent(spec, options, monitor)
        result.info["algorithm"] = "cd"
        return result
    result = solve_composite(
        xp.asarray(spec.A),
        xp.asarray(spec.b),
        spec.loss,
        build_operator(penalty, "name"),
        delta=spec.delta,
        algorithm=spec.algorithm,
        **_limits(options, monitor),
    )
    return result


def _coordinate_descent(
    spec: CompositeProblem, options: dict[str, Any], monitor: Monitor
) -> SolverResult:
    """The schema admits ``cd`` only for the penalties and losses these solvers serve."""
    p, limits = spec.penalty, _limits(options, monitor)
    if spec.loss == "logistic":
        return solve_sparse_logreg(spec.A, spec.b, p.lam, **limits)  # type: ignore[union-attr]
    if p.name == "l1":
        return solve_sparse_regression(spec.A, spec.b, p.lam, **limits)
    if p.name == "weighted_l1":
        return solve_sparse_regression(spec.A, spec.b, 1.0, weights=p.weights, **limits)
    if p.name == "elastic_net":
        return solve_sparse_regression(spec.A, spec.b, p.lam, l2=p.l2, **limits)
    if p.name == "group_l1":
        groups = p.groups.astype(np.int64)
        return solve_group_lasso(spec.A, spec.b, p.lam, groups, weights=p.weights, **limits)
    if p.name in ("mcp", "scad"):
        return solve_nonconvex_regression(spec.A, spec.b, p.lam, p.gamma, penalty=p.name, **limits)
    raise AssertionError(f"no coordinate-descent solver for {p.name}")
