r"""Sinkhorn-Newton-Sparse: Sinkhorn warm-up, then safeguarded sparse Newton steps on the dual.

Newton works on the *semi-dual* in ``g`` (``f`` eliminated by its exact Sinkhorn update):

.. math::

    \Phi(g) = -\max_f D(f, g)
        = -\langle f(g), a \rangle - \langle g, b \rangle + \varepsilon \textstyle\sum_i a_i,
    \qquad f_i(g) = \varepsilon \log a_i
        - \varepsilon \operatorname{LSE}_j\bigl((g_j - C_{ij}) / \varepsilon\bigr),

a smooth convex function with gradient ``P^T 1 - b`` (``P`` the plan of ``(f(g), g)``, whose row
marginal is exact) and Hessian ``S / eps``, ``S = diag(P^T 1) - P^T diag(1/a) P``: the Schur
complement of the full dual Hessian ``[[diag(P1), P], [P^T, diag(P^T 1)]] / eps``. The gradient
norm is the marginal violation itself, so the Newton phase minimises exactly what the stopping
test measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sps

from workers.solvers.backend import array_namespace
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.ot.common import (
    balance_gauge,
    entropic_certificate,
    infeasible_result,
    mass_mismatch_message,
    masses_match,
    prepare_problem,
    restrict_start,
    to_host,
)
from workers.solvers.ot.sinkhorn import (
    ScalingSinkhorn,
    SinkhornRun,
    _validate_scalars,
    balanced_target,
    finish,
)
from workers.solvers.result import SolverResult, SolverStatus

__all__ = ["sinkhorn_newton_sparse"]

# --- warm-up and switch ------------------------------------------------------------------------
# Newton takes over when the relative marginal violation is below _SWITCH_RTOL, or when Sinkhorn
# stalls: the violation shrank by less than a factor _STALL_RATIO over the last _STALL_WINDOW
# iterations (Sinkhorn's linear rate 1 - O(eps) has set in). At least _WARMUP_MIN iterations.
_SWITCH_RTOL = 1e-2
_STALL_WINDOW = 10
_STALL_RATIO = 0.5
_WARMUP_MIN = 10
_WARMUP_MAX = 2000
# Sinkhorn iterations run when a Newton step is damped or fails to reduce the violation.
_FALLBACK_SWEEPS = 10

# --- sparsification ----------------------------------------------------------------------------
# Row i keeps the entries P_ij >= kappa * a_i / m, so it drops at most a fraction kappa of its
# mass; kappa follows the relative violation (sparser far away, nearly exact Hessian close in).
_KAPPA_MAX = 1e-2
_KAPPA_MIN = 1e-6
# Above this density of kept entries the CSR matrix costs more (to build, and per product) than
# a dense product with the full P, which is then used: the exact Hessian, at the price of a
# sparse one (measured crossover of the products alone: ~15% at n = 500).
_DENSE_FRACTION = 0.1

# --- Newton step -------------------------------------------------------------------------------
_MU0 = 1e-2  # shift sigma = mu * (relative violation), relative to diag(max(P^T 1, b))
_MU_MIN = 1e-6
_MU_UP = 4.0
_MU_DOWN = 0.5
_RHO_LOW = 0.25
_RHO_HIGH = 0.75
_ARMIJO = 1e-4
_BACKTRACK = 0.5
_MAX_BACKTRACKS = 3
# Max-norm trust region: a step changes no potential by more than _STEP_MAX * eps (a factor
# exp(30) on a column of the plan); beyond that the quadratic model is meaningless anyway.
_STEP_MAX = 30.0
_CG_RTOL_MAX = 1e-1
_CG_RTOL_MIN = 1e-10
_CG_MAX_ITER = 500
_ROUNDOFF = 1e3 * float(np.finfo(np.float64).eps)
# Re-evaluations when the fresh violation of the returned potentials exceeds tol although the
# running one (of a rescaled plan) did not: round-off, only ever seen near tol ~ 1e-15.
_FINAL_ATTEMPTS = 3
# A plan is updated by rescaling its rows and columns (exact in exact arithmetic) until the
# accumulated log-scaling since its last exp pass exceeds this; entries that had underflowed
# (< 2e-308) are then at most 2e-308 * exp(200) ~ 1e-221, far below any tolerance.
_DRIFT_MAX = 200.0


class _Point:
    """One semi-dual iterate: potentials, plan (a buffer; exact row marginal), column sums,
    gradient ``c - b``, violation ``||c - b||_1``, ``Phi``, a round-off scale of ``Phi``, and the
    log-scaling the plan buffer accumulated since its last exp pass."""

    __slots__ = ("f", "g", "P", "c", "grad", "err", "phi", "scale", "drift")

    def __init__(
        self,
        f: Any,
        g: Any,
        P: Any,
        c: Any,
        grad: Any,
        err: float,
        phi: float,
        scale: float,
        drift: float,
    ) -> None:
        self.f = f
        self.g = g
        self.P = P
        self.c = c
        self.grad = grad
        self.err = err
        self.phi = phi
        self.scale = scale
        self.drift = drift

    def finite(self) -> bool:
        return math.isfinite(self.err) and math.isfinite(self.phi)


class _SemiDual:
    """Evaluations of the semi-dual ``Phi(g)`` and its plan.

    A trial point ``g + d`` is evaluated from the current plan by rescaling, not by an exp pass:
    with ``w = exp(d / eps)``, ``s = P w`` and ``r = a / s``, the plan of ``g + d`` is
    ``diag(r) P diag(w)`` (row marginal ``a``), ``f(g + d) = f(g) + eps log r`` and its column
    sums are ``w * (P^T r)``: two matrix-vector products. Only an accepted trial is written into
    the plan buffer (two in-place passes).
    """

    def __init__(self, xp: Any, Cs: Any, a: Any, b: Any, eps: float) -> None:
        self.xp = xp
        self.Cs = Cs
        self.a = a
        self.b = b
        self.eps = eps
        self.log_a = xp.log(a)
        self.mass = float(xp.sum(a))
        self.ones_n = xp.ones(Cs.shape[0])
        self.exp_passes = 0
        self.trials = 0

    def exact(self, g: Any, out: Any) -> _Point:
        """``f(g)`` by a max-shifted log-sum-exp and the plan of ``(f(g), g)`` into ``out``."""
        xp = self.xp
        eps = self.eps
        X = xp.empty(self.Cs.shape) if out is None else out
        xp.subtract((g / eps)[None, :], self.Cs, out=X)
        mx = xp.max(X, axis=1)
        xp.subtract(X, mx[:, None], out=X)
        xp.exp(X, out=X)
        s = xp.sum(X, axis=1)
        f = eps * (self.log_a - xp.log(s) - mx)
        xp.multiply(X, (self.a / s)[:, None], out=X)
        self.exp_passes += 1
        return self.from_plan(f, g, X, 0.0)

    def from_plan(self, f: Any, g: Any, P: Any, drift: float) -> _Point:
        """The point of potentials whose plan ``P`` (exact row marginal) is already formed."""
        c = self.ones_n @ P
        return self._point(f, g, P, c, drift)

    def _point(self, f: Any, g: Any, P: Any, c: Any, drift: float) -> _Point:
        xp = self.xp
        grad = c - self.b
        err, fa, gb = to_host(xp, xp.sum(xp.abs(grad)), xp.dot(f, self.a), xp.dot(g, self.b))
        phi = -(fa + gb) + self.eps * self.mass
        scale = abs(fa) + abs(gb) + self.eps * self.mass
        return _Point(f, g, P, c, grad, err, phi, scale, drift)

    def trial(self, pt: _Point, step: Any, step_max: float, spare: Any) -> tuple[_Point, Any]:
        """The point ``g + step``; returns it with the row/column scalings that turn ``pt.P``
        into its plan (``None`` when it was evaluated by an exp pass into ``spare``)."""
        xp = self.xp
        eps = self.eps
        self.trials += 1
        if pt.drift + step_max / eps <= _DRIFT_MAX:
            w = xp.exp(step / eps)
            s = pt.P @ w
            r = self.a / s
            log_r = xp.log(r)
            (big,) = to_host(xp, xp.max(xp.abs(log_r)))
            if math.isfinite(big) and pt.drift + step_max / eps + big <= _DRIFT_MAX:
                c = w * (r @ pt.P)
                drift = pt.drift + step_max / eps + big
                point = self._point(pt.f + eps * log_r, pt.g + step, pt.P, c, drift)
                return point, (r, w)
        return self.exact(pt.g + step, spare), None

    def accept(self, point: _Point, scalings: Any) -> None:
        """Write the plan of an accepted rescaled trial into its (shared) buffer."""
        r, w = scalings
        xp = self.xp
        xp.multiply(point.P, r[:, None], out=point.P)
        xp.multiply(point.P, w[None, :], out=point.P)


def _hessian_operator(
    xp: Any, pt: _Point, a: Any, kappa: float
) -> tuple[Callable[[Any], Any], Any, int]:
    """The sparsified Schur complement ``S_s = diag(c) - P_s^T diag(1/a) P_s`` as a matvec.

    ``P_s`` keeps the entries ``P_ij >= kappa * a_i / m``; the diagonal ``c = P^T 1`` stays exact,
    so ``S_s`` is the Schur complement of ``[[diag(a), P_s], [P_s^T, diag(c)]]``, which is
    diagonally dominant (``P_s <= P``), hence ``S_s`` is positive semi-definite. Returns the
    matvec, the diagonal of ``S_s`` (for the Jacobi preconditioner) and the number of kept
    entries (``n * m`` when the dense ``P`` is used, see ``_DENSE_FRACTION``).
    """
    P = pt.P
    n, m = P.shape
    inv_a = 1.0 / a
    c = pt.c
    if xp is np:
        thr = (kappa / m) * a
        # Dense or sparse: decided on the density of every stride-th row (64 rows or so).
        stride = max(1, n // 64)
        rows_sampled = len(range(0, n, stride))
        sampled = np.count_nonzero(P[::stride] >= thr[::stride, None])
        if sampled <= _DENSE_FRACTION * m * rows_sampled:
            mask = np.greater_equal(P, thr[:, None])
            counts = np.count_nonzero(mask, axis=1)
            idx = np.flatnonzero(mask)
            nnz = int(idx.size)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            rows, cols = np.divmod(idx, m)
            data = P.ravel()[idx]
            Ps = sps.csr_matrix((data, cols, indptr), shape=(n, m))
            PsT = Ps.T.tocsr()
            diag = c - np.bincount(cols, weights=data * data * inv_a[rows], minlength=m)

            def matvec_sparse(x: Any) -> Any:
                return c * x - PsT @ ((Ps @ x) * inv_a)

            return matvec_sparse, diag, nnz
    # Dense: the exact Hessian (on a GPU a dense product costs what a masked one would).
    # diag(P^T diag(1/a) P) = sum_i P_ij^2 / a_i, by blocks of rows (no n x m temporary).
    sq = xp.zeros(m)
    block = max(1, (1 << 15) // max(m, 1))
    work = xp.empty((min(block, n), m))
    for i in range(0, n, block):
        rows_p = P[i : i + block]
        w = work[: rows_p.shape[0]]
        xp.multiply(rows_p, rows_p, out=w)
        sq += inv_a[i : i + block] @ w
    diag = c - sq

    def matvec_dense(x: Any) -> Any:
        return c * x - ((P @ x) * inv_a) @ P

    return matvec_dense, diag, n * m


def _pcg(
    xp: Any,
    matvec: Callable[[Any], Any],
    rhs: Any,
    dinv: Any,
    rtol: float,
    max_iter: int,
) -> tuple[Any, int]:
    """Jacobi-preconditioned CG on ``1^perp``: the constant direction (``g -> g + k``, which
    changes neither the plan nor the dual) is projected out of residuals and directions."""
    inv_m = 1.0 / rhs.shape[0]
    x = xp.zeros_like(rhs)
    r = rhs - xp.sum(rhs) * inv_m
    z = dinv * r
    z -= xp.sum(z) * inv_m
    p = z
    rz, rr0 = to_host(xp, xp.dot(r, z), xp.dot(r, r))
    if not (rr0 > 0.0 and rz > 0.0):
        return x, 0
    stop = rtol * rtol * rr0
    it = 0
    while it < max_iter:
        it += 1
        q = matvec(p)
        q -= xp.sum(q) * inv_m
        pq = float(xp.dot(p, q))
        if not pq > 0.0:
            break  # numerically singular along p: keep the last iterate (a descent direction)
        alpha = rz / pq
        x += alpha * p
        r -= alpha * q
        z = dinv * r
        z -= xp.sum(z) * inv_m
        rr, rz_new = to_host(xp, xp.dot(r, r), xp.dot(r, z))
        if rr <= stop or not rz_new > 0.0:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, it


def sinkhorn_newton_sparse(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    tol: float = 1e-9,
    max_iter: int = 10_000,
    monitor: Monitor | None = None,
    f0: Any = None,
    g0: Any = None,
) -> SolverResult:
    r"""Entropic optimal transport by Sinkhorn-Newton-Sparse, certified by the marginal violation.

    Same problem, conventions and result record as :func:`~workers.solvers.ot.sinkhorn.
    sinkhorn_log`; the difference is speed at small ``eps``, where Sinkhorn's linear rate
    ``1 - O(eps)`` makes it crawl.

    Parameters
    ----------
    a, b : array, shapes (n,), (m,)
        Non-negative masses of equal total (relative ``1e-9``; otherwise ``INFEASIBLE``). Zero
        entries are allowed. Never modified.
    C : array, shape (n, m)
        Cost matrix. Never modified.
    eps : float
        Entropic regularisation, ``> 0``.
    tol : float
        Stop when the L1 marginal violation ``||P 1 - a||_1 + ||P^T 1 - b||_1 <= tol``.
    max_iter : int
        Maximum number of iterations, Sinkhorn iterations and Newton steps together.
    monitor : Monitor, optional
        Polled once per iteration; receives ``objective`` (the dual objective ``D(f, g)``),
        ``marginal_error_l1``, ``dual_objective``, ``stage`` ("sinkhorn" or "newton") and, for
        Newton steps, ``cg_iterations``, ``step`` (the accepted step length, 0.0 when none was),
        ``shift`` (``mu``) and ``hessian_nnz`` (``n * m`` for the dense Hessian).
    f0, g0 : array, optional
        Starting potentials, as for ``sinkhorn_log``.

    Returns
    -------
    SolverResult
        As :func:`~workers.solvers.ot.sinkhorn.sinkhorn_log`; ``iterations`` counts Sinkhorn
        iterations and Newton steps; ``info`` holds ``sinkhorn_iterations``,
        ``newton_iterations``, ``cg_iterations``, ``line_search_trials``, ``exp_passes`` (O(nm)
        exponentials: kernel rebuilds and exact evaluations), ``fallbacks`` and
        ``returned_iteration``.

    Raises
    ------
    ValueError
        As :func:`~workers.solvers.ot.sinkhorn.sinkhorn_log`.

    Notes
    -----
    **Warm-up and switch.** Log-stabilised Sinkhorn iterations (two matrix-vector products each,
    see :class:`~workers.solvers.ot.sinkhorn.ScalingSinkhorn`) until the relative marginal
    violation is ``<= 1e-2`` or its decrease stalls (less than a halving over the last 10
    iterations, after at least 10): an adaptive switch on the violation, not a fixed count.

    **Newton step** on the semi-dual ``Phi(g)`` (module docstring) with ``f = f(g)`` exact, so the
    row marginal is always exact and ``grad Phi = P^T 1 - b``:

    1. *Sparsify* ``P``: row ``i`` keeps the entries ``P_ij >= kappa a_i / m`` (so it drops at
       most a fraction ``kappa`` of its mass), ``kappa = clip(violation / mass, 1e-6, 1e-2)``:
       sparser far from the solution (about 5n-10n entries for the near-permutation plans of
       the random assignment at ``eps = 1/1200``), nearly exact near it. The diagonal
       ``diag(P^T 1)`` is kept exact, so the sparsified Schur complement ``S_s = diag(c) -
       P_s^T diag(1/a) P_s`` stays positive semi-definite. The kept entries form a CSR matrix
       (scipy) only while they are at most 10% of ``P``; above that a CSR product costs about
       what a dense one does and the CSR must be built first, so the full ``P`` -- the exact
       Hessian -- is used instead, as it always is on cupy (a dense product on a GPU costs what a
       masked one would).
    2. *Solve* ``(S_s + sigma diag(max(P^T 1, b))) x = -(P^T 1 - b)`` by Jacobi-preconditioned
       conjugate gradients restricted to ``1^perp`` (the dual is invariant under ``(f + k,
       g - k)``), to a relative residual ``clip(sqrt(violation / mass), 0.1 tol / violation,
       0.1)`` (inexact Newton: superlinear locally, and no more accuracy than the last step
       needs), and step ``d = eps x``. The shift ``sigma = mu * violation / mass`` is
       Levenberg-Marquardt-like, as in Tang & Qiu's SSNS: it vanishes at the solution, so the
       local convergence is Newton's; ``mu`` is adapted by the ratio of actual to predicted
       decrease of ``Phi`` (x4 below 0.25, x0.5 above 0.75, from 1e-2): a trust-region control.
       Scaling the shift with ``max(P^T 1, b)`` rather than ``P^T 1`` damps the columns whose
       current mass is orders of magnitude below their target, where Newton's quadratic model
       of the exponential would overshoot wildly.
    3. *Line search*: the step is first capped so that no potential moves by more than
       ``30 eps`` (a max-norm trust region), then halved at most 3 times until Armijo's condition
       on ``Phi`` holds; where the predicted decrease is below the round-off of ``Phi`` (near the
       solution), a decrease of the marginal violation is required instead. A trial point costs
       two matrix-vector products, not an exp pass: its plan is the current one with rescaled
       rows and columns (``_SemiDual``), and only an accepted one is written (two passes).
    4. *Fall-back*: when the accepted step was damped or did not reduce the marginal
       violation, 10 Sinkhorn iterations run (from the current plan, matrix-vector products
       only) before the next Newton step; when no step is accepted at all, ``mu`` also grows
       sixteenfold. (``mu`` itself only follows the trust-region ratio otherwise: on the
       plateaus of W1-like problems the violation stalls while ``Phi`` still decreases as
       predicted, and a shift driven by the violation would shrink the steps to nothing.)
       Sinkhorn iterations never increase ``Phi``, so the method keeps Sinkhorn's global
       convergence.

    **Stopping and certificate** as for ``sinkhorn_log``: the violation is that of the plan
    ``exp((f + g - C) / eps)`` of the returned potentials, recomputed by a fresh exp pass
    (``f = f(g)``, so its row marginal is exact). ``MAX_ITER``, ``TIME_LIMIT`` and ``CANCELLED``
    return the iterate of smallest violation seen.

    References
    ----------
    .. [1] X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao and
       L. Ying, "Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024.
    .. [2] Z. Tang and Y. Qiu, "Safe and sparse Newton method for entropic-regularized optimal
       transport", NeurIPS 2024.
    .. [3] C. Brauer, C. Clason, D. Lorenz and B. Wirth, "A Sinkhorn-Newton method for entropic
       optimal transport", arXiv:1710.06635, 2017.
    .. [4] S. C. Eisenstat and H. F. Walker, "Choosing the forcing terms in an inexact Newton
       method", SIAM J. Sci. Comput. 17(1):16-32, 1996.
    """
    with np.errstate(all="ignore"):
        return _sinkhorn_newton_sparse(
            a, b, C, eps, tol=tol, max_iter=max_iter, monitor=monitor, f0=f0, g0=g0
        )


def _sinkhorn_newton_sparse(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    f0: Any,
    g0: Any,
) -> SolverResult:
    started = time.perf_counter()
    xp = array_namespace(C, a, b)
    eps, tol = _validate_scalars(eps, tol, max_iter)
    prob = prepare_problem(a, b, C, xp=xp)
    if not masses_match(prob.mass_a, prob.mass_b):
        return infeasible_result(prob, started, mass_mismatch_message(prob.mass_a, prob.mass_b))
    bal = balanced_target(prob)
    f_start, g_start = restrict_start(prob, f0, g0)
    mass = prob.mass_a

    # --- warm-up ---------------------------------------------------------------------------------
    eng = ScalingSinkhorn(xp, prob.C, prob.a, bal, eps)
    eng.start(f_start, g_start)
    run = SinkhornRun(eng, prob, bal, monitor, max_iter, stage="sinkhorn")
    history: list[float] = []
    switch_at = max(tol, _SWITCH_RTOL * mass)
    while run.status is None and run.k < _WARMUP_MAX:
        run.advance(switch_at, sweeps=1)
        if run.status is not None:
            break
        history.append(run.last_err)
        if len(history) > max(_WARMUP_MIN, _STALL_WINDOW) and (
            history[-1] > _STALL_RATIO * history[-1 - _STALL_WINDOW]
        ):
            break
    counts = {"newton": 0, "cg": 0, "fallbacks": 0}
    if run.status not in (None, SolverStatus.CONVERGED) or (
        run.status is SolverStatus.CONVERGED and run.last_err <= tol
    ):
        return run.result(
            tol,
            eps,
            started,
            {
                "newton_iterations": counts["newton"],
                "cg_iterations": counts["cg"],
                "line_search_trials": 0,
                "exp_passes": run.eng.absorptions,
                "fallbacks": counts["fallbacks"],
            },
            method="Sinkhorn-Newton-Sparse",
        )

    # --- Newton ----------------------------------------------------------------------------------
    sd = _SemiDual(xp, eng.Cs, prob.a, bal, eps)
    if eng.next_rows:
        eng.step()  # an f-update (matrix-vector products only): rows exact, a semi-dual point
    f, g, P = eng.materialise()
    pt = sd.from_plan(f, g, P, eng.drift)
    spare: Any = None  # second n x m buffer, allocated when an exact evaluation needs it
    k = run.k
    sinkhorn_its = run.k
    mu = _MU0
    status: SolverStatus | None = None
    failure = ""
    best = pt
    best_k = k
    if not pt.finite():
        status = SolverStatus.NUMERICAL_ERROR
        failure = "non-finite semi-dual at the end of the warm-up"

    def record(point: _Point, cg_its: int, step: float, nnz: int) -> None:
        if monitor is not None:
            monitor.record(
                k,
                -point.phi,
                marginal_error_l1=point.err,
                dual_objective=-point.phi,
                stage="newton",
                cg_iterations=float(cg_its),
                step=step,
                shift=float(mu),
                hessian_nnz=float(nnz),
            )

    def sweeps(point: _Point, count: int) -> _Point:
        """``count`` Sinkhorn iterations from ``point`` (its plan adopted as the kernel, so they
        cost matrix-vector products only), ending with an f-update: a semi-dual point again."""
        nonlocal k, status, failure, sinkhorn_its
        eng.start_from_plan(point.P, point.f, point.g, next_rows=False, drift=point.drift)
        sub = SinkhornRun(eng, prob, bal, monitor, max_iter, stage="sinkhorn", k=k)
        sub.advance(0.0, sweeps=count)
        sinkhorn_its += sub.k - k
        k = sub.k
        if sub.status not in (None, SolverStatus.CONVERGED):
            status, failure = sub.status, sub.failure
            if eng.next_rows:  # stopped after a g-update: do the f-update (rows exact again)
                eng.step()
        f_now, g_now, P_now = eng.materialise()
        return sd.from_plan(f_now, g_now, P_now, eng.drift)

    target = tol
    attempts = 0
    while True:
        while status is None:
            if pt.err <= target:
                status = SolverStatus.CONVERGED
                break
            status = stop_reason(monitor, k, max_iter)
            if status is not None:
                break
            k += 1
            counts["newton"] += 1
            rel = pt.err / mass

            # 1-2. sparsified Hessian, shifted, solved by PCG.
            kappa = min(_KAPPA_MAX, max(_KAPPA_MIN, rel))
            matvec, diag, nnz = _hessian_operator(xp, pt, prob.a, kappa)
            shift = (mu * rel) * xp.maximum(pt.c, bal)
            dinv = 1.0 / (diag + shift)

            def shifted(x: Any, matvec: Callable[[Any], Any] = matvec, shift: Any = shift) -> Any:
                return matvec(x) + shift * x

            # Inexact Newton: a relative residual sqrt(violation) keeps the local convergence
            # superlinear, and a residual of about tol / violation is all the last step needs.
            cg_rtol = min(_CG_RTOL_MAX, max(_CG_RTOL_MIN, math.sqrt(rel), 0.1 * tol / pt.err))
            x, cg_its = _pcg(xp, shifted, -pt.grad, dinv, cg_rtol, _CG_MAX_ITER)
            counts["cg"] += cg_its
            d = eps * x
            gd, xsx, d_max = to_host(
                xp, xp.dot(pt.grad, d), xp.dot(x, matvec(x)), xp.max(xp.abs(d))
            )
            dhd = eps * xsx  # d^T (S_s / eps) d

            # 3. line search on Phi (Armijo), or on the violation where Phi's change is round-off.
            accepted: _Point | None = None
            scalings: Any = None
            t = min(1.0, _STEP_MAX * eps / d_max) if d_max > 0.0 else 1.0
            if gd < 0.0 and math.isfinite(gd) and math.isfinite(d_max):
                for _ in range(_MAX_BACKTRACKS + 1):
                    trial, trial_scalings = sd.trial(pt, t * d, t * d_max, spare)
                    if trial_scalings is None:
                        spare = trial.P  # an exact evaluation's buffer: kept if the trial fails
                    if trial.finite():
                        noise = _ROUNDOFF * max(pt.scale, trial.scale)
                        if -t * gd > noise:
                            ok = pt.phi - trial.phi >= -_ARMIJO * t * gd
                        else:
                            ok = trial.err < pt.err
                        if ok:
                            accepted, scalings = trial, trial_scalings
                            break
                    t *= _BACKTRACK

            if accepted is None:
                # 4a. no acceptable step: more shift, and Sinkhorn iterations before trying again.
                mu *= _MU_UP * _MU_UP
                counts["fallbacks"] += 1
                if monitor is not None and monitor.wants_trace(k):
                    record(pt, cg_its, 0.0, nnz)
                pt = sweeps(pt, _FALLBACK_SWEEPS)
            else:
                # Trust-region control of the shift by the ratio of actual to predicted decrease.
                predicted = -(t * gd + 0.5 * t * t * dhd)
                noise = _ROUNDOFF * max(pt.scale, accepted.scale)
                if predicted > noise:
                    rho = (pt.phi - accepted.phi) / predicted
                    if rho < _RHO_LOW:
                        mu *= _MU_UP
                    elif rho > _RHO_HIGH:
                        mu = max(_MU_MIN, mu * _MU_DOWN)
                elif accepted.err < 0.5 * pt.err:
                    mu = max(_MU_MIN, mu * _MU_DOWN)
                improved = accepted.err < pt.err
                if scalings is not None:
                    sd.accept(accepted, scalings)  # pt.P now holds the plan of accepted
                else:
                    spare = pt.P  # accepted lives in the old spare buffer
                pt = accepted
                if monitor is not None and monitor.wants_trace(k):
                    record(pt, cg_its, t, nnz)
                if (t < 1.0 or not improved) and pt.err > tol:
                    # 4b. A damped or unhelpful step: the quadratic model is off somewhere, often in
                    # a few columns whose marginal is off by orders of magnitude (there the Newton
                    # step overshoots and Sinkhorn's log-step is the right one): let Sinkhorn
                    # iterations fix those before the next Newton step.
                    counts["fallbacks"] += 1
                    pt = sweeps(pt, _FALLBACK_SWEEPS)
            if not pt.finite():
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite semi-dual at iteration {k}"
            elif pt.err < best.err:
                best, best_k = pt, k

        if status is not SolverStatus.CONVERGED:
            pt = best
        # The returned iterate is the semi-dual point pt (f = f(g), exact row marginal); its
        # plan and certificate are recomputed from the potentials by one exp pass.
        f, g = balance_gauge(xp, pt.f, pt.g, prob.a, bal)
        cert, P = entropic_certificate(xp, f, g, prob.C, prob.a, bal, eps, out=pt.P, Cs=eng.Cs)
        if not (status is SolverStatus.CONVERGED and cert.marginal_error > tol):
            break
        if attempts == _FINAL_ATTEMPTS:
            status = SolverStatus.NUMERICAL_ERROR
            failure = "the marginal violation stalls above tol at round-off level"
            break
        # The running violation (of a rescaled plan) met the target but the fresh exp pass does
        # not confirm it (round-off): re-evaluate exactly and go on with a tighter target.
        attempts += 1
        target *= 0.25
        status = None
        pt = best = sd.exact(g, P)
    if monitor is not None:
        monitor.record(
            k,
            cert.dual,
            marginal_error_l1=cert.marginal_error,
            dual_objective=cert.dual,
            stage="newton",
        )
    return finish(
        prob,
        cert,
        P,
        f,
        g,
        status or SolverStatus.MAX_ITER,
        started,
        tol,
        iterations=k,
        max_iter=max_iter,
        info={
            "sinkhorn_iterations": sinkhorn_its,
            "newton_iterations": counts["newton"],
            "cg_iterations": counts["cg"],
            "line_search_trials": sd.trials,
            "exp_passes": sd.exp_passes + eng.absorptions,
            "fallbacks": counts["fallbacks"],
            "returned_iteration": best_k if status is not SolverStatus.CONVERGED else k,
        },
        failure=failure,
        method="Sinkhorn-Newton-Sparse",
    )
