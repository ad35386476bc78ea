r"""Constrained least squares ``min_{x in C} 0.5 ||A x - b||^2`` by accelerated projected gradient.

``C`` is a convex set given by a catalogue indicator (:class:`~workers.solvers.prox.operators.Box`,
``NonNeg``, ``Simplex``, ``L1Ball``, ...): its ``prox`` is the Euclidean projection and its
``conjugate_value`` the support function ``sigma_C``, which is all the Frank-Wolfe gap needs.
Pure numerics: numpy or cupy, the array module is read off the inputs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace, to_host
from workers.solvers.monitor import Monitor
from workers.solvers.prox.composite import (
    _CERT_EVERY_CHEAP,
    _TINY,
    _Cert,
    _check_common,
    _fista,
    _LeastSquares,
    _norm2_estimate,
    _prepare_ls_data,
    _Problem,
    _result,
)
from workers.solvers.prox.operators import ProxOperator
from workers.solvers.result import SolverResult

__all__ = ["solve_constrained_least_squares"]


class _ConstrainedCertifier:
    """Frank-Wolfe gap for bounded sets, projected-gradient (KKT) residual otherwise.

    ``fw``: ``gap(x) = max_{s in C} <grad f(x), x - s> = <grad f(x), x> + sigma_C(-grad f(x))``,
    an upper bound of ``f(x) - f*`` for convex ``f``; the linear minimisation oracle is the
    support function, i.e. the set's ``conjugate_value``. ``kkt``: ``||x - P_C(x - t grad f(x))||
    / t`` with ``t = 1 / L``, relative to ``||grad f(x_0)||_2``.
    """

    def __init__(self, xp: Any, constraint: ProxOperator, mode: str) -> None:
        self.xp = xp
        self.constraint = constraint
        self.mode = mode
        self.grad_scale = 0.0

    def __call__(self, x: Any, Ax: Any, gx: Any, r: Any, step: float) -> _Cert:
        xp = self.xp
        if self.mode == "fw":
            support = float(self.constraint.conjugate_value(-gx))
            rr, gxx = to_host(xp, xp.dot(r, r), xp.dot(gx, x))
            primal = 0.5 * rr
            gap = max(gxx + support, 0.0)  # >= 0 in exact arithmetic (x is in C)
            return _Cert("fw", primal, gap, gap / max(primal, _TINY))
        G = x - self.constraint.prox(x - step * gx, step)
        rr, gnorm = to_host(xp, xp.dot(r, r), xp.sqrt(xp.dot(G, G)))
        res = gnorm / step
        return _Cert("kkt", 0.5 * rr, res, res / max(self.grad_scale, _TINY))


def _bounded(xp: Any, constraint: ProxOperator, n: int, dtype: Any) -> bool:
    """Whether the support function is finite in every direction (so the FW gap is finite).

    Any unbounded direction of a box, orthant or half-space has a component of one sign in
    ``+1``, ``-1`` or a generic direction, where the support function is then infinite.
    """
    d = xp.cos(xp.arange(n, dtype=dtype) * 1.7 + 0.3)
    ones = xp.ones(n, dtype=dtype)
    try:
        return all(
            math.isfinite(float(constraint.conjugate_value(v))) for v in (ones, -ones, d, -d)
        )
    except NotImplementedError:
        return False


def solve_constrained_least_squares(
    A: Any,
    b: Any,
    constraint: ProxOperator,
    *,
    tol: float = 1e-6,
    max_iter: int = 10000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Solve ``min_x 0.5 ||A x - b||_2^2`` subject to ``x in C``.

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (numpy or cupy, dense). Never modified.
    b : array, shape (m,)
        Observations. Never modified.
    constraint : ProxOperator
        The indicator of a convex set: ``Box``, ``NonNeg``, ``Simplex``, ``L1Ball`` (also
        ``L2Ball``, ``LinfBall``, ``HalfSpace``, ``Hyperplane``).
    tol : float
        Stop when the relative certificate is ``<= tol``.
    max_iter : int
        Maximum number of iterations.
    monitor : Monitor, optional
        Polled every iteration; receives trace points (objective, certificate, step).

    Returns
    -------
    SolverResult
        ``solution = {"x": x}`` with ``x`` in ``C`` (a projection), ``objective = f(x)``, and for a
        bounded ``C`` the certificate ``{"frank_wolfe_gap", "relative_frank_wolfe_gap",
        "primal"}``, for an unbounded one ``{"kkt_residual", "relative_kkt_residual", "primal"}``.

    Raises
    ------
    ValueError
        On inconsistent shapes, non-real data, a constraint that is not the indicator of a convex
        set, ``tol < 0`` or ``max_iter < 0``.

    Notes
    -----
    **Algorithm.** FISTA on ``f(x) = 0.5 ||A x - b||^2`` with the projection ``P_C`` as prox,
    two-way backtracking (Scheinberg, Goldfarb & Bai) and gradient restart (O'Donoghue &
    Candès), the shared core of :func:`workers.solvers.prox.composite.solve_composite`. Two
    products with ``A`` per iteration; it starts at ``P_C(0)``.

    **Certificate.** For a bounded ``C`` (box with finite bounds, simplex, balls) the Frank-Wolfe
    gap ``g(x) = max_{s in C} <grad f(x), x - s> = <grad f(x), x> + sigma_C(-grad f(x))`` bounds
    ``f(x) - f*`` (convexity of ``f``); the maximiser ``s`` is the linear minimisation oracle (box:
    the bound selected by the sign of each gradient entry; simplex: ``r e_j`` at the smallest
    gradient entry; ``l1`` ball: ``-r sign(g_j) e_j`` at the largest ``|g_j|``), evaluated here
    through the set's support function (its ``conjugate_value``). It is reported relative to
    ``f(x)``: ``relative_frank_wolfe_gap = gap / max(f(x), tiny)`` (so a consistent system, with
    ``f* = 0``, needs ``gap`` to shrink with ``f``). For an unbounded ``C`` (orthant, half-space,
    boxes with infinite bounds) the gap is infinite in general, and the certificate is the
    projected-gradient residual ``||x - P_C(x - grad f(x) / L)||_2 L``, which vanishes exactly at
    the minimisers; relative to ``||grad f(x_0)||_2``. It measures stationarity, not objective
    error, hence its different name.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, SIAM J. Imaging Sci. 2(1):183-202, 2009.
    .. [2] M. Jaggi, "Revisiting Frank-Wolfe: projection-free sparse convex optimization",
       ICML 2013 (the duality gap).
    """
    with np.errstate(all="ignore"):
        started = time.perf_counter()
        xp = array_namespace(A, b)
        A, b, dtype = _prepare_ls_data(xp, A, b)
        tol = _check_common(tol, max_iter)
        n = A.shape[1]
        if not getattr(constraint, "convex", False):
            raise ValueError(f"the constraint must be a convex set, got {constraint.name!r}")
        x0 = xp.asarray(constraint.prox(xp.zeros(n, dtype=dtype), 1.0), dtype=dtype)
        probe = constraint.prox(10.0 * xp.cos(xp.arange(n, dtype=dtype) * 1.7 + 0.3), 1.0)
        if float(constraint.value(x0)) != 0.0 or float(constraint.value(probe)) != 0.0:
            raise ValueError(
                f"the constraint must be the indicator of a set (0 on its projections), "
                f"got {constraint.name!r}"
            )
        mode = "fw" if _bounded(xp, constraint, n, dtype) else "kkt"
        certifier = _ConstrainedCertifier(xp, constraint, mode)
        loss = _LeastSquares(xp, b)
        problem = _Problem(xp, A, b, loss, constraint.prox, certifier)
        norm2, spent = _norm2_estimate(xp, A, dtype)
        problem.matvecs += spent
        if not (math.isfinite(norm2) and norm2 > 0.0):
            norm2 = 1.0
        if mode == "kkt":
            g0 = A.T @ (A @ x0 - b)
            problem.matvecs += 2
            certifier.grad_scale = float(xp.sqrt(xp.dot(g0, g0)))
        run = _fista(
            problem,
            x0,
            L0=norm2,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            cert_every=_CERT_EVERY_CHEAP,
        )
        return _result(
            run,
            started=started,
            tol=tol,
            max_iter=max_iter,
            algorithm="fista",
            constraint=constraint.name,
            matvecs=problem.matvecs,
        )
