r"""Lasso: accelerated proximal gradient (FISTA) with two-way backtracking and adaptive restart.

Solves

.. math::

    \min_x \; P(x) = \tfrac12 \lVert A x - b \rVert_2^2 + \lambda \lVert x \rVert_1

and certifies the returned iterate by a duality gap. Pure numerics: no I/O, works on numpy or cupy
arrays (the array module is read off the inputs).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace, norm2_estimate, to_host
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.result import SolverResult, SolverStatus, stop_message

__all__ = ["solve_lasso"]

# Step-size control (Scheinberg, Goldfarb & Bai 2014). Every iteration first tries the previous L
# shrunk by _L_DECREASE (a longer step, so the step follows the *local* curvature instead of the
# global worst case); a trial that fails the sufficient-decrease test raises L by at least
# _L_INCREASE, and straight to the measured curvature of the failed step if that is larger (so one
# retry nearly always suffices). At the steady state about one iteration in seven pays a retry
# (one extra A @ x), against steps that are often much longer than 1 / ||A||^2.
_L_DECREASE = 0.9
_L_INCREASE = 2.0
_MAX_BACKTRACKS = 60  # 2**60: L cannot legitimately need more doublings; more means NaN/overflow
_POWER_ITERATIONS = 5
# Relative floor for L, so that shrinking L on a problem whose curvature vanishes (A == 0, or a
# step that stays in the null space of A) cannot underflow to 0 and divide by zero.
_L_FLOOR_RATIO = 1e-12
_SPARSE_RATIO = 16  # use the support of x in A @ x when nnz(x) <= n / 16 (see _matvec)
_TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class _Certificate:
    """Optimality measures at one iterate (host floats)."""

    primal: float
    # lam > 0: duality gap with the rescaled-residual dual point; lam == 0: ||A^T r||_inf.
    absolute: float
    relative: float
    dual: float  # nan when lam == 0 (no cheap dual feasible point, see solve_lasso)
    lasso: bool  # lam > 0

    def finite(self) -> bool:
        values = (self.primal, self.absolute, self.relative)
        return all(math.isfinite(v) for v in values) and (
            not self.lasso or math.isfinite(self.dual)
        )

    def as_dict(self) -> dict[str, float]:
        if self.lasso:
            return {
                "duality_gap": self.absolute,
                "relative_gap": self.relative,
                "primal": self.primal,
                "dual": self.dual,
            }
        return {
            "kkt_residual": self.absolute,
            "relative_kkt_residual": self.relative,
            "primal": self.primal,
        }

    def trace_measures(self, L: float) -> dict[str, float]:
        """Trace measures; ``step = 1 / L`` is left out when no step was taken (``L`` is nan)."""
        if self.lasso:
            keys = ("duality_gap", "relative_gap")
        else:
            keys = ("kkt_residual", "relative_kkt_residual")
        measures = {keys[0]: self.absolute, keys[1]: self.relative}
        if math.isfinite(L):
            measures["step"] = 1.0 / L
        return measures


def _certificate(
    xp: Any, x: Any, rr: float, grad: Any, lam: float, grad_scale: float
) -> _Certificate:
    """Certificate at ``x`` from ``rr = ||A x - b||^2`` and ``grad = A^T (A x - b)``.

    For ``lam > 0`` the dual point is ``theta = r / s`` with ``r = b - A x`` and
    ``s = max(1, ||A^T r||_inf / lam)``, which is dual feasible (``||A^T theta||_inf <= lam``).
    Writing ``b = r + A x`` (so ``b.r = ||r||^2 - x.grad``), the gap ``P(x) - D(theta)`` is

        gap = 0.5 ||r||^2 (1 - 1/s)^2 + (lam ||x||_1 + x.grad / s),

    a sum of two terms that are each >= 0 (the second because ``|x.grad| <= ||x||_1 ||grad||_inf
    <= s lam ||x||_1``). This form avoids the cancellation of subtracting two numbers of the size of
    ``0.5 ||b||^2`` when the fit is good, so small relative gaps stay measurable.
    """
    l1, ginf, xg = to_host(xp, xp.sum(xp.abs(x)), xp.max(xp.abs(grad)), xp.dot(x, grad))
    primal = 0.5 * rr + lam * l1
    if lam > 0.0:
        s = max(1.0, ginf / lam)
        gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + (lam * l1 + xg / s)
        gap = max(gap, 0.0)  # >= 0 in exact arithmetic; only rounding can push it below
        return _Certificate(
            primal=primal,
            absolute=gap,
            relative=gap / max(primal, _TINY),
            dual=primal - gap,
            lasso=True,
        )
    return _Certificate(
        primal=primal,
        absolute=ginf,
        relative=ginf / max(grad_scale, _TINY),
        dual=math.nan,
        lasso=False,
    )


def _lipschitz_estimate(xp: Any, A: Any, dtype: Any) -> tuple[float, int]:
    """Rayleigh-quotient estimate of ``||A||_2^2`` by a few power iterations on ``A^T A``.

    Returns the estimate and the number of matrix-vector products spent. Why not the bound
    ``||A||_F^2``: it can exceed ``||A||_2^2`` by a factor up to ``min(m, n)``, and with L shrinking
    only by ``_L_DECREASE`` per iteration the solver would then crawl with short steps for
    ``log(min(m, n)) / log(1 / 0.9)`` iterations (about 60 for min(m, n) = 500). The Rayleigh
    quotient is a lower bound that is typically within a few tens of percent after five
    iterations, and an underestimate costs a single extra ``A @ x`` in the first backtracking
    test. The start vector is deterministic (``cos(0), cos(1), ...``) so runs are reproducible;
    it is almost surely not orthogonal to the top singular vector.
    """
    return norm2_estimate(xp, A, dtype, _POWER_ITERATIONS)


def _matvec(xp: Any, A: Any, x: Any) -> Any:
    """``A @ x``, multiplying only the columns of the support of ``x`` when it is small.

    Proximal-gradient iterates of the lasso are sparse (the soft threshold sets most coordinates
    to exactly zero), so ``A[:, S] @ x[S]`` saves most of the work of one of the two products per
    iteration. Gathering columns has poor locality, and measured on a 500 x 5000 C-ordered matrix
    it breaks even with the dense product near ``|S| = n / 8``; below ``n / _SPARSE_RATIO`` it
    clearly wins. ``A^T r`` has no such shortcut: the gradient is needed on every coordinate.
    """
    n = x.shape[0]
    idx = xp.flatnonzero(x)
    nnz = int(idx.size)
    if nnz == 0:
        return xp.zeros(A.shape[0], dtype=A.dtype)
    if nnz * _SPARSE_RATIO <= n:
        return A[:, idx] @ x[idx]
    return A @ x


def _as_float_array(xp: Any, a: Any, name: str) -> Any:
    arr = xp.asarray(a)
    kind = np.dtype(arr.dtype).kind
    if kind == "c":
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def solve_lasso(
    A: Any,
    b: Any,
    lam: float,
    *,
    tol: float = 1e-6,
    max_iter: int = 10_000,
    x0: Any = None,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Solve the lasso ``min_x 0.5 ||A x - b||_2^2 + lam ||x||_1`` by FISTA, certified by a gap.

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (numpy or cupy; dense). Never modified.
    b : array, shape (m,)
        Observations. Never modified.
    lam : float
        Regularisation weight, ``lam >= 0``. The loss is *not* scaled by ``1/m`` (scikit-learn's
        ``Lasso(alpha)`` is this problem with ``lam = alpha * m``). For
        ``lam >= lam_max = ||A^T b||_inf`` the solution is ``x = 0``.
    tol : float
        Stop when the relative duality gap ``gap / P(x) <= tol`` (see Notes).
    max_iter : int
        Maximum number of FISTA iterations.
    x0 : array, shape (n,), optional
        Starting point (warm start); zeros by default. Never modified.
    monitor : Monitor, optional
        Polled every iteration (:meth:`Monitor.check`) for cancellation or a time limit; receives
        trace points on the iterations it selects (:meth:`Monitor.wants_trace`) and at the final
        iteration (iteration 0, the starting point, when the solve stops before its first step:
        already optimal, cancelled or out of time).

    Returns
    -------
    SolverResult
        ``solution = {"x": x}`` (an array of the input's array module and floating dtype;
        integer inputs are promoted to float64, float16 to float32), ``objective = P(x)``, and
        ``certificate = {"duality_gap", "relative_gap", "primal", "dual"}`` evaluated at the
        returned ``x`` (for ``lam == 0``: ``{"kkt_residual", "relative_kkt_residual",
        "primal"}``). ``info`` holds ``restarts``, ``backtracks``, ``matvecs``, the final ``L``
        and ``returned_iteration``.

    Raises
    ------
    ValueError
        On inconsistent shapes, non-real data, ``lam < 0``, ``tol < 0`` or ``max_iter < 0``.

    Notes
    -----
    **Algorithm.** With ``f(x) = 0.5 ||A x - b||^2`` (gradient ``A^T (A x - b)``) and the soft
    threshold ``S_tau(z) = sign(z) max(|z| - tau, 0)`` (the prox of ``tau ||.||_1``), one
    iteration with trial Lipschitz constant ``L`` is

    .. math::

        t_{k} &= \tfrac12 \bigl(1 + \sqrt{1 + 4 (L_k / L_{k-1}) t_{k-1}^2}\bigr), \\
        y &= x_k + \tfrac{t_{k-1} - 1}{t_k} (x_k - x_{k-1}), \\
        x_{k+1} &= S_{\lambda / L_k}\bigl(y - \nabla f(y) / L_k\bigr),

    accepted when ``f(x_{k+1}) <= f(y) + <grad f(y), d> + L_k/2 ||d||^2`` with ``d = x_{k+1} - y``.
    Because ``f`` is quadratic this test is exactly ``||A d||^2 <= L_k ||d||^2``, which is evaluated
    in that form (no cancellation between two nearly equal objective values). Each iteration first
    tries ``L_k = 0.9 L_{k-1}`` and, on failure, raises it (at least doubling) and recomputes
    ``t_k`` and ``y``: this is FISTA-BKTR of Scheinberg, Goldfarb & Bai, whose ``L_k / L_{k-1}``
    factor in the ``t`` update keeps the ``O(1/k^2)`` rate while the step may grow again. Momentum
    is restarted (``t_k = 1``) by the gradient scheme of O'Donoghue & Candès: whenever
    ``<y - x_{k+1}, x_{k+1} - x_k> > 0``, i.e. the step goes against the generalised gradient; on
    problems with restricted strong convexity this recovers linear convergence.

    The products ``A y`` and ``A^T (A y - b)`` are never formed: ``y`` is an affine combination of
    ``x_k`` and ``x_{k-1}``, so they are the same combination of the stored ``A x_k, A x_{k-1}``
    and gradients at ``x_k, x_{k-1}``. An iteration therefore costs one ``A @ x_{k+1}`` (needed by
    the acceptance test, then reused as the residual) and one ``A.T @ r_{k+1}`` (the next gradient),
    plus one ``A @ x`` per rejected trial. The initial ``L`` comes from five power iterations on
    ``A^T A`` (a lower bound of ``||A||_2^2``).

    **Certificate.** The Fenchel dual is

    .. math::

        \max_\theta \; D(\theta) = \tfrac12 \lVert b \rVert^2 - \tfrac12 \lVert b - \theta \rVert^2
        \quad \text{s.t.} \quad \lVert A^T \theta \rVert_\infty \le \lambda,

    and ``theta = r / max(1, ||A^T r||_inf / lam)`` with ``r = b - A x`` is dual feasible (residual
    rescaling, as in Celer). Weak duality gives ``P(x) - P* <= gap = P(x) - D(theta)``. Since
    ``A^T r`` is the gradient the next iteration needs anyway, the gap costs only ``O(m + n)``
    reductions on top of the two ``O(mn)`` products, so it is evaluated at *every* iterate.

    **Stopping.** ``CONVERGED`` when ``gap <= tol * max(P(x), tiny)``; the returned ``x`` is then
    the iterate that met the test, within ``tol * P(x)`` of the optimum. Otherwise (``MAX_ITER``,
    ``TIME_LIMIT``, ``CANCELLED``, ``NUMERICAL_ERROR``) the returned ``x`` is the iterate of lowest
    ``P`` seen (FISTA is not monotone), always a finite one, with its own certificate.
    ``NUMERICAL_ERROR`` is reported when a non-finite value appears (in the data, an iterate, the
    gap or ``L``) or backtracking cannot find an acceptable step.

    **lam == 0** (least squares): the dual constraint becomes ``A^T theta = 0`` and residual
    rescaling no longer yields a dual point, so there is no cheap duality gap. The certificate is
    then the stationarity residual ``||A^T (A x - b)||_inf`` and the stopping test is
    ``||A^T r||_inf <= tol * ||A^T b||_inf`` (the gradient norm relative to the one at ``x = 0``).
    This bounds stationarity, not the objective error.

    With float32 data, relative gaps much below ``1e-5`` are usually out of reach of rounding; the
    solver then runs to ``max_iter``.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
       inverse problems", SIAM J. Imaging Sciences 2(1):183-202, 2009.
    .. [2] B. O'Donoghue and E. Candès, "Adaptive restart for accelerated gradient schemes",
       Foundations of Computational Mathematics 15(3):715-732, 2015.
    .. [3] K. Scheinberg, D. Goldfarb and X. Bai, "Fast first-order methods for composite convex
       optimization with backtracking", Foundations of Computational Mathematics 14(3):389-417,
       2014.
    .. [4] M. Massias, A. Gramfort and J. Salmon, "Celer: a fast solver for the Lasso with dual
       extrapolation", ICML 2018 (dual point by residual rescaling).
    """
    # Overflow and NaN are reported through the status (NUMERICAL_ERROR), not as numpy
    # RuntimeWarnings; np.errstate does not affect cupy, which does not warn anyway.
    with np.errstate(all="ignore"):
        return _solve_lasso(A, b, lam, tol=tol, max_iter=max_iter, x0=x0, monitor=monitor)


def _solve_lasso(
    A: Any,
    b: Any,
    lam: float,
    *,
    tol: float,
    max_iter: int,
    x0: Any,
    monitor: Monitor | None,
) -> SolverResult:
    started = time.perf_counter()
    xp = array_namespace(A, b, *(() if x0 is None else (x0,)))
    A = _as_float_array(xp, A, "A")
    b = _as_float_array(xp, b, "b")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {A.shape}")
    m, n = A.shape
    if m < 1 or n < 1:
        raise ValueError(f"A must be non-empty, got shape {A.shape}")
    if b.shape != (m,):
        raise ValueError(f"b must have shape ({m},), got {b.shape}")
    lam = float(lam)
    tol = float(tol)
    if not (lam >= 0.0 and math.isfinite(lam)):
        raise ValueError(f"lam must be finite and >= 0, got {lam}")
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")

    dtype = np.result_type(A.dtype, b.dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    elif dtype.itemsize < 4:
        dtype = np.dtype(np.float32)  # float16 cannot hold the sums involved
    # asarray copies only when the dtype changes; nothing below writes into A, b or x0.
    A = xp.asarray(A, dtype=dtype)
    b = xp.asarray(b, dtype=dtype)

    # --- starting point: x, A x, residual and gradient -------------------------------------------
    matvecs = 0
    if x0 is None:
        x = xp.zeros(n, dtype=dtype)
        Ax = xp.zeros(m, dtype=dtype)
    else:
        x = _as_float_array(xp, x0, "x0")
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},), got {x.shape}")
        # A copy: x0 may be returned as the solution, which must not alias the caller's array.
        x = xp.array(x, dtype=dtype, copy=True)
        Ax = _matvec(xp, A, x)
        matvecs += 1
    res = Ax - b
    g = A.T @ res
    matvecs += 1
    grad_scale = 0.0  # ||A^T b||_inf, the reference scale of the lam == 0 certificate
    if lam == 0.0:
        if x0 is None:
            grad_scale = float(xp.max(xp.abs(g)))
        else:
            grad_scale = float(xp.max(xp.abs(A.T @ b)))
            matvecs += 1
    (rr,) = to_host(xp, xp.dot(res, res))
    cert = _certificate(xp, x, rr, g, lam, grad_scale)

    status: SolverStatus | None = None
    failure = ""
    if not cert.finite():
        status = SolverStatus.NUMERICAL_ERROR
        failure = "non-finite value at the starting point (check A, b and x0)"
    elif cert.relative <= tol:
        status = SolverStatus.CONVERGED  # e.g. lam >= ||A^T b||_inf with x0 = 0: no iteration

    L = math.nan
    if status is None:
        L, spent = _lipschitz_estimate(xp, A, dtype)
        matvecs += spent
        if not (math.isfinite(L) and L > 0.0):
            # A == 0, or A^T A v overflowed: any positive start will do; backtracking adapts.
            L = 1.0
    L_floor = L * _L_FLOOR_RATIO

    x_prev, Ax_prev, g_prev = x, Ax, g
    t = 1.0
    k = 0
    restarts = 0
    backtracks = 0
    best_x, best_cert, best_k = x, cert, 0
    last_k, last_cert, last_L = 0, cert, L  # last finite iterate, for the final trace point
    last_recorded = -1

    while status is None:
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1

        # --- one FISTA-BKTR step ------------------------------------------------------------------
        L_try = max(_L_DECREASE * L, L_floor)
        accepted = False
        for _ in range(_MAX_BACKTRACKS):
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * (L_try / L) * t * t))
            beta = (t - 1.0) / t_new
            if beta == 0.0:
                y, Ay, gy = x, Ax, g
            else:
                y = x + beta * (x - x_prev)
                Ay = Ax + beta * (Ax - Ax_prev)
                gy = g + beta * (g - g_prev)
            z = y - gy / L_try
            thr = lam / L_try
            x_new = z - xp.clip(z, -thr, thr)  # soft threshold S_thr(z), exact zeros inside
            Ax_new = _matvec(xp, A, x_new)
            matvecs += 1
            d = x_new - y
            Ad = Ax_new - Ay
            res_new = Ax_new - b
            d2, ad2, rr, against = to_host(
                xp, xp.dot(d, d), xp.dot(Ad, Ad), xp.dot(res_new, res_new), -xp.dot(d, x_new - x)
            )
            if not all(math.isfinite(v) for v in (d2, ad2, rr, against)):
                break
            # d2 == 0: x_new == y, nothing to test (and A d is then pure rounding noise).
            if ad2 <= L_try * d2 or d2 == 0.0:
                accepted = True
                break
            backtracks += 1
            L_try = max(_L_INCREASE * L_try, ad2 / d2)
            if not math.isfinite(L_try):
                break
        if not accepted:
            status = SolverStatus.NUMERICAL_ERROR
            failure = f"non-finite value or failed backtracking at iteration {k}"
            break

        # Gradient restart (O'Donoghue & Candes): <y - x_new, x_new - x> > 0.
        if against > 0.0:
            t_new = 1.0
            restarts += 1
        x_prev, Ax_prev, g_prev = x, Ax, g
        x, Ax = x_new, Ax_new
        g = A.T @ res_new
        matvecs += 1
        L, t = L_try, t_new

        cert = _certificate(xp, x, rr, g, lam, grad_scale)
        if not cert.finite():
            status = SolverStatus.NUMERICAL_ERROR
            failure = f"non-finite objective or certificate at iteration {k}"
            break
        last_k, last_cert, last_L = k, cert, L
        if cert.primal < best_cert.primal:
            best_x, best_cert, best_k = x, cert, k
        if monitor is not None and monitor.wants_trace(k):
            monitor.record(k, cert.primal, **cert.trace_measures(L))
            last_recorded = k
        if cert.relative <= tol:
            status = SolverStatus.CONVERGED
            best_x, best_cert, best_k = x, cert, k

    # --- result -----------------------------------------------------------------------------------
    # The trace ends with the last finite iterate (the final iteration, unless NUMERICAL_ERROR).
    if monitor is not None and last_recorded != last_k and last_cert.finite():
        monitor.record(last_k, last_cert.primal, **last_cert.trace_measures(last_L))

    message = stop_message(
        status,
        measure="relative duality gap" if lam > 0.0 else "relative KKT residual ||A^T r||_inf",
        value=best_cert.relative,
        tol=tol,
        iterations=k,
        max_iter=max_iter,
        returned=f"the lowest-objective finite iterate (iteration {best_k})",
        failure=failure,
    )

    return SolverResult(
        status=status,
        objective=best_cert.primal,
        iterations=k,
        solve_time_s=time.perf_counter() - started,
        certificate=best_cert.as_dict(),
        solution={"x": best_x},
        message=message,
        info={
            "restarts": restarts,
            "backtracks": backtracks,
            "matvecs": matvecs,
            "L": L if math.isfinite(L) else None,
            "returned_iteration": best_k,
        },
    )
