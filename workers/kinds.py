"""The solver plug-in table: problem kind -> function that turns a validated spec into a result.

A new family adds its spec to ``schemas.problems.SPECS``, its adapter under ``workers/adapters/``
and its entry here; nothing else in the service changes.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from schemas.problems import ProblemSpec
from workers.adapters import bayesopt, conic, ot, prox
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult

Solve = Callable[[Any, dict[str, Any], Monitor, ModuleType], SolverResult]

SOLVERS: dict[str, Solve] = {
    "lasso": prox.lasso,
    "elastic_net": prox.elastic_net,
    "group_lasso": prox.group_lasso,
    "sparse_logreg": prox.sparse_logreg,
    "matrix_completion": prox.matrix_completion,
    "tv_denoise": prox.tv_denoise,
    "constrained_least_squares": prox.constrained_least_squares,
    "composite": prox.composite,
    "ot": ot.solve_ot,
    "conic": conic.conic,
    "experimental_design": conic.experimental_design_kind,
    "robust_pca": conic.robust_pca_kind,
    "graph_partitioning": conic.graph_partitioning_kind,
    "max_cut": conic.max_cut_kind,
    "sdp": conic.sdp_kind,
    "bayesopt_benchmark": bayesopt.bayesopt_benchmark,
}


def solver_for(spec: ProblemSpec) -> Solve:
    return SOLVERS[spec.kind]  # type: ignore[attr-defined]
