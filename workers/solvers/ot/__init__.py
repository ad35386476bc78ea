"""Optimal transport: log-domain Sinkhorn (balanced and KL-relaxed), Sinkhorn-Newton-Sparse and
exact (network simplex) solvers. Each returns one :class:`~workers.solvers.result.SolverResult`."""

from workers.solvers.ot.exact import exact_ot
from workers.solvers.ot.sinkhorn import sinkhorn_log, sinkhorn_unbalanced_log
from workers.solvers.ot.sns import sinkhorn_newton_sparse

__all__ = ["exact_ot", "sinkhorn_log", "sinkhorn_newton_sparse", "sinkhorn_unbalanced_log"]
