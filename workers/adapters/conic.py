"""The conic family: ``conic`` (SCS standard form with spectral cones) and its templates."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from schemas.problems.conic import (
    ConicProblem,
    ExperimentalDesignProblem,
    GraphPartitioningProblem,
    MaxCutProblem,
    RobustPCAProblem,
    SDPProblem,
)
from schemas.problems.sparse import CooMatrix
from workers.solvers.conic.cones import ConeSpec
from workers.solvers.conic.scs import solve_conic
from workers.solvers.conic.templates import (
    Template,
    experimental_design,
    graph_partitioning,
    max_cut,
    robust_pca,
    sdp,
)
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult, SolverStatus


def _tolerances(spec: Any, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "eps_abs": spec.eps_abs if spec.eps_abs is not None else options["tol"],
        "eps_rel": spec.eps_rel if spec.eps_rel is not None else options["tol"],
        "eps_infeas": spec.eps_infeas,
        "max_iter": options["max_iter"],
    }


def _matrix(M: np.ndarray | CooMatrix | None) -> Any:
    if M is None:
        return None
    if isinstance(M, CooMatrix):
        return M.to_scipy()
    return sp.csc_matrix(M)


def _symmetric_P(P: Any) -> Any:
    """P given as its upper triangle (SCS's convention) is completed to the full matrix."""
    if P is None:
        return None
    lower = sp.tril(P, -1)
    if lower.nnz == 0 or abs(lower).sum() == 0:
        return (P + sp.triu(P, 1).T).tocsc()
    return P


def conic(
    spec: ConicProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    cones = ConeSpec(**spec.cones.model_dump())
    warm = spec.warm_start.model_dump() if spec.warm_start is not None else None
    return solve_conic(
        _matrix(spec.A),
        spec.b,
        spec.c,
        cones,
        P=_symmetric_P(_matrix(spec.P)),
        warm_start=warm,
        monitor=monitor,
        **_tolerances(spec, options),
    )


def _template(
    template: Template, spec: Any, options: dict[str, Any], monitor: Monitor
) -> SolverResult:
    A, b, c, cones, recover = template
    result = solve_conic(A, b, c, cones, monitor=monitor, **_tolerances(spec, options))
    raw = result.solution
    if result.status in (SolverStatus.INFEASIBLE, SolverStatus.UNBOUNDED):
        return result
    parts = recover(raw["x"], raw["y"], raw["s"])
    # The objective in the user's terms, evaluated from the recovered parts.
    result.objective = float(parts.pop("objective"))
    result.certificate["conic_objective"] = float(c @ np.asarray(raw["x"]))
    result.solution = parts
    return result


def experimental_design_kind(
    spec: ExperimentalDesignProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return _template(experimental_design(spec.V, criterion=spec.criterion), spec, options, monitor)


def robust_pca_kind(
    spec: RobustPCAProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return _template(robust_pca(spec.M, lam=spec.lam, mu=spec.mu), spec, options, monitor)


def graph_partitioning_kind(
    spec: GraphPartitioningProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    if spec.laplacian is not None:
        L = spec.laplacian
    else:
        assert spec.edges is not None and spec.n is not None
        W = np.zeros((spec.n, spec.n))
        weights = spec.weights if spec.weights is not None else np.ones(len(spec.edges))
        for (u, v), w in zip(spec.edges, weights, strict=True):
            W[u, v] += w
            W[v, u] += w
        L = np.diag(W.sum(1)) - W
    return _template(graph_partitioning(L, spec.k), spec, options, monitor)


def max_cut_kind(
    spec: MaxCutProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    template = max_cut(spec.weights, n_rounds=spec.rounding_trials, seed=spec.seed)
    return _template(template, spec, options, monitor)


def sdp_kind(
    spec: SDPProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return _template(sdp(spec.C, list(spec.A), spec.b), spec, options, monitor)
