r"""Log-domain Sinkhorn for entropic optimal transport, balanced and KL-relaxed (unbalanced).

Sinkhorn is exact block-coordinate ascent on the concave dual

.. math::

    D(f, g) = \langle f, a \rangle + \langle g, b \rangle
        - \varepsilon \sum_{ij} e^{(f_i + g_j - C_{ij}) / \varepsilon},

alternating the closed-form maximisations in ``f`` and in ``g``:

.. math::

    f_i \leftarrow \varepsilon \log a_i
        - \varepsilon \operatorname{LSE}_j \bigl((g_j - C_{ij}) / \varepsilon\bigr), \qquad
    g_j \leftarrow \varepsilon \log b_j
        - \varepsilon \operatorname{LSE}_i \bigl((f_i - C_{ij}) / \varepsilon\bigr).

After an ``f``-update the row marginal of ``P = exp((f + g - C) / eps)`` is exact, after a
``g``-update the column marginal is, so the L1 marginal violation of the current iterate is the
violation of the one marginal that is not, and it comes for free with the next update.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.ot.common import (
    Certificate,
    OTProblem,
    balance_gauge,
    entropic_certificate,
    expand_plan,
    expand_potentials,
    infeasible_result,
    mass_mismatch_message,
    masses_match,
    plan_from_potentials,
    prepare_problem,
    restrict_start,
    to_host,
)
from workers.solvers.result import SolverResult, SolverStatus, stop_message

__all__ = ["ScalingSinkhorn", "sinkhorn_log", "sinkhorn_unbalanced_log"]

# Absorption threshold of the log-stabilised iteration (see ScalingSinkhorn): the scalings
# u, v stay within exp(+-_ABSORB). Kernel entries below the float64 underflow
# (~2e-308) are lost, so plan entries below 2e-308 * exp(2 * _ABSORB) ~ 1e-221 may be inaccurate,
# far below any marginal tolerance; a larger threshold means fewer O(nm) exp passes.
_ABSORB = 100.0
# Epsilon scaling: geometric factor between stages and the (relative) marginal violation at which
# an intermediate stage hands over to the next; intermediate stages only need to be roughly right.
_EPS_FACTOR = 0.5
_STAGE_RTOL = 1e-3
_STAGE_MAX_SWEEPS = 200
# Re-solve attempts when the marginal violation recomputed from the returned potentials (a fresh
# exp pass) exceeds tol although the iteration's own running value did not (round-off).
_FINAL_ATTEMPTS = 3


class ScalingSinkhorn:
    r"""Log-stabilised Sinkhorn scaling (Schmitzer's absorption), exact in the log domain.

    The iterate is stored as absorbed potentials ``(fa, ga)``, a kernel
    ``E = exp((fa + ga - C) / eps)`` (an ``n x m`` array) and scalings ``u, v`` with
    ``f = fa + eps log u``, ``g = ga + eps log v``, so that ``P = diag(u) E diag(v)``. An update
    whose scalings stay within ``exp(+-_ABSORB)`` costs one matrix-vector product with ``E`` (plus
    O(n) work) instead of an O(nm) log-sum-exp; when a scaling leaves that range, or a row or column
    sum is not a positive finite number, the update is done as an exact, max-shifted log-sum-exp
    and ``E`` is rebuilt from the new potentials (absorption). In exact arithmetic both give the
    same iterates as the textbook log-domain Sinkhorn; numerically the matvec form is as accurate
    (entries ``E <= max(a, b)`` never overflow and the scalings are bounded).

    For the KL-relaxed problem the updates are the same with exponents
    ``phi = tau / (tau + eps)`` (Chizat et al.): ``f <- phi (eps log a - eps LSE_j(...))``.

    Each :meth:`step` performs one half-update (rows, then columns, alternately) and returns the
    L1 stationarity residual of the iterate *before* it (for the balanced problem: its marginal
    violation, the other marginal being exact), which is available at no extra cost;
    :attr:`pre` holds that iterate.
    """

    def __init__(
        self,
        xp: Any,
        C: Any,
        a: Any,
        b: Any,
        eps: float,
        *,
        tau_a: float = math.inf,
        tau_b: float = math.inf,
    ) -> None:
        self.xp = xp
        self.C = C
        self.a = a
        self.b = b
        self.log_a = xp.log(a)
        self.log_b = xp.log(b)
        self.tau_a = tau_a
        self.tau_b = tau_b
        self.E = xp.empty(C.shape)
        self.Cs: Any = None
        n, m = C.shape
        self.fa = xp.zeros(n)
        self.ga = xp.zeros(m)
        self.u = xp.ones(n)
        self.v = xp.ones(m)
        self.set_eps(eps)
        self.next_rows = True  # the side of the next half-update
        self.pre_rows_exact = False  # whether the iterate before the last half-update had P1 set
        self.stale = True  # the next half-update must be exact (E unusable or scalings large)
        self.drift = 0.0  # log-scaling applied to E since its last exp pass (see materialise)
        self.pre: State = (self.fa, self.u, self.ga, self.v, eps)
        self.absorptions = 0

    # --- state ----------------------------------------------------------------------------------
    def set_eps(self, eps: float) -> None:
        """Set epsilon (epsilon scaling): the potentials are kept, the kernel will be rebuilt."""
        if getattr(self, "eps", None) is not None:
            self.fa, self.ga = self.potentials()
            self.u = self.xp.ones_like(self.u)
            self.v = self.xp.ones_like(self.v)
        self.eps = eps
        self.Cs = self.xp.multiply(self.C, 1.0 / eps, out=self.Cs)
        self.phi_a = 1.0 if math.isinf(self.tau_a) else self.tau_a / (self.tau_a + eps)
        self.phi_b = 1.0 if math.isinf(self.tau_b) else self.tau_b / (self.tau_b + eps)
        self.stale = True

    def start(self, f0: Any, g0: Any) -> None:
        """Start from ``(f0, g0)``: the first half-update is the rows one unless only ``f0`` is
        given (then the columns one, so that ``f0`` is used)."""
        xp = self.xp
        n, m = self.C.shape
        self.fa = xp.zeros(n) if f0 is None else f0
        self.ga = xp.zeros(m) if g0 is None else g0
        self.u = xp.ones(n)
        self.v = xp.ones(m)
        self.next_rows = not (f0 is not None and g0 is None)
        self.stale = True

    def start_from_plan(self, P: Any, f: Any, g: Any, next_rows: bool, drift: float = 0.0) -> None:
        """Continue from potentials whose plan ``P`` is already formed (the buffer is adopted;
        ``drift``: the log-scaling applied to it since its last exp pass)."""
        self.E = P
        self.drift = drift
        self.fa, self.ga = f, g
        self.u = self.xp.ones_like(f)
        self.v = self.xp.ones_like(g)
        self.next_rows = next_rows
        self.stale = False

    def potentials(self) -> tuple[Any, Any]:
        return combine((self.fa, self.u, self.ga, self.v, self.eps))

    def materialise(self) -> tuple[Any, Any, Any]:
        """Absorb the scalings into the kernel in place (``E <- diag(u) E diag(v)``, two O(nm)
        passes instead of an exp pass): returns ``(f, g, P)`` with ``P`` the buffer ``E``."""
        xp = self.xp
        f, g = self.potentials()
        if self.stale:
            # Large scalings: form the plan from the potentials directly (exact, no overflow
            # for an iterate with one exact marginal, whose entries are <= max(a, b)).
            plan_from_potentials(xp, f, g, self.C, self.eps, out=self.E, Cs=self.Cs)
            self.drift = 0.0
        else:
            u_lo, u_hi, v_lo, v_hi = to_host(
                xp, xp.min(self.u), xp.max(self.u), xp.min(self.v), xp.max(self.v)
            )
            self.drift += _log_range(u_lo, u_hi) + _log_range(v_lo, v_hi)
            xp.multiply(self.E, self.u[:, None], out=self.E)
            xp.multiply(self.E, self.v[None, :], out=self.E)
        self.stale = False
        self.fa, self.ga = f, g
        self.u = xp.ones_like(self.u)
        self.v = xp.ones_like(self.v)
        return f, g, self.E

    # --- half-updates ---------------------------------------------------------------------------
    def step(self) -> float:
        """One half-update; returns the L1 residual of the iterate before it (see class doc)."""
        self.pre = (self.fa, self.u, self.ga, self.v, self.eps)
        self.pre_rows_exact = not self.next_rows
        if self.next_rows:
            res = self._half(rows=True)
        else:
            res = self._half(rows=False)
        self.next_rows = not self.next_rows
        return res

    def _half(self, rows: bool) -> float:
        """A half-update by one matrix-vector product when the kernel allows, else exact."""
        if self.stale:
            return self._exact(rows)
        xp = self.xp
        if rows:
            s = self.E @ self.v  # row sums of E diag(v)
            old, target, log_t, phi, tau, pot_a = (
                self.u,
                self.a,
                self.log_a,
                self.phi_a,
                self.tau_a,
                self.fa,
            )
        else:
            s = self.u @ self.E
            old, target, log_t, phi, tau, pot_a = (
                self.v,
                self.b,
                self.log_b,
                self.phi_b,
                self.tau_b,
                self.ga,
            )
        if phi == 1.0:
            new = target / s
        else:
            new = xp.exp(phi * (log_t - xp.log(s)) + ((phi - 1.0) / self.eps) * pot_a)
        lo, hi = to_host(xp, xp.min(new), xp.max(new))
        # NaN, 0 or inf: a row sum underflowed or overflowed; redo the update in the log domain.
        if not (lo > 0.0 and hi < math.inf):
            return self._exact(rows)
        marg = old * s  # the marginal of the iterate before the update
        if math.isinf(tau):
            res = float(xp.sum(xp.abs(marg - target)))
        else:
            pot = pot_a + self.eps * xp.log(old)
            res = float(xp.sum(xp.abs(marg - target * xp.exp(-pot / tau))))
        if rows:
            self.u = new
        else:
            self.v = new
        if _log_range(lo, hi) > _ABSORB:
            self.stale = True  # the next update absorbs
        return res

    def _exact(self, rows: bool) -> float:
        """Exact max-shifted log-sum-exp half-update; rebuilds the kernel ``E`` (absorption)."""
        xp = self.xp
        eps = self.eps
        f, g = self.potentials()
        X = self.E
        if rows:
            xp.subtract((g / eps)[None, :], self.Cs, out=X)  # (g_j - C_ij) / eps
            axis, log_t, phi, tau, pot, target = 1, self.log_a, self.phi_a, self.tau_a, f, self.a
        else:
            xp.subtract((f / eps)[:, None], self.Cs, out=X)  # (f_i - C_ij) / eps
            axis, log_t, phi, tau, pot, target = 0, self.log_b, self.phi_b, self.tau_b, g, self.b
        mx = xp.max(X, axis=axis)
        mx_b = mx[:, None] if rows else mx[None, :]
        xp.subtract(X, mx_b, out=X)
        xp.exp(X, out=X)
        log_s = xp.log(xp.sum(X, axis=axis))
        lse = mx + log_s
        # Marginal of the iterate before the update: exp(pot / eps + LSE).
        marg = xp.exp(pot / eps + lse)
        if math.isinf(tau):
            res = float(xp.sum(xp.abs(marg - target)))
        else:
            res = float(xp.sum(xp.abs(marg - target * xp.exp(-pot / tau))))
        new = phi * eps * (log_t - lse)
        # Kernel of the updated potentials: X * exp(new / eps + mx), with the exponent written
        # without the cancellation of new / eps against mx (both of size max|C| / eps).
        w = xp.exp(phi * (log_t - log_s) + (1.0 - phi) * mx)
        xp.multiply(X, w[:, None] if rows else w[None, :], out=X)
        if rows:
            self.fa, self.ga = new, g
        else:
            self.fa, self.ga = f, new
        self.u = xp.ones_like(self.u)
        self.v = xp.ones_like(self.v)
        self.stale = False
        self.drift = 0.0
        self.absorptions += 1
        return res

    # --- values ---------------------------------------------------------------------------------
    def dual_balanced(self, f: Any, g: Any, mass: float) -> float:
        """``D(f, g)`` of an iterate with one exact marginal (so ``sum P = mass``)."""
        xp = self.xp
        fa, gb = to_host(xp, xp.dot(f, self.a), xp.dot(g, self.b))
        return fa + gb - self.eps * mass


State = tuple[Any, Any, Any, Any, float]  # (fa, u, ga, v, eps): f = fa + eps log u, etc.


def _log_range(lo: float, hi: float) -> float:
    """``max |log x|`` over scalings ``x`` in ``[lo, hi]`` (``lo, hi > 0``)."""
    return max(math.log(hi), -math.log(lo), 0.0)


def combine(state: State) -> tuple[Any, Any]:
    """Potentials ``(fa + eps log u, ga + eps log v)`` of a stored iterate."""
    fa, u, ga, v, eps = state
    xp = array_namespace(u)
    return fa + eps * xp.log(u), ga + eps * xp.log(v)


# ------------------------------------------------------------------------------------------------
def _validate_scalars(eps: float, tol: float, max_iter: int) -> tuple[float, float]:
    eps = float(eps)
    tol = float(tol)
    if not (eps > 0.0 and math.isfinite(eps)):
        raise ValueError(f"eps must be finite and > 0, got {eps}")
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    return eps, tol


def _epsilon_schedule(xp: Any, C: Any, eps: float) -> list[float]:
    """Geometric schedule from the cost range down to ``eps`` (``[eps]`` when already large)."""
    lo, hi = to_host(xp, xp.min(C), xp.max(C))
    start = hi - lo
    schedule: list[float] = []
    e = start
    while e > eps / _EPS_FACTOR:
        schedule.append(e)
        e *= _EPS_FACTOR
    schedule.append(eps)
    return schedule


def sinkhorn_log(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    tol: float = 1e-9,
    max_iter: int = 100_000,
    eps_scaling: bool = False,
    monitor: Monitor | None = None,
    f0: Any = None,
    g0: Any = None,
) -> SolverResult:
    r"""Entropic optimal transport by log-domain Sinkhorn, certified by the marginal violation.

    Solves (POT's convention)

    .. math::

        \min_{P \in U(a, b)} \langle P, C \rangle + \varepsilon \sum_{ij} P_{ij}(\log P_{ij} - 1)

    through its dual (see :mod:`workers.solvers.ot.common`).

    Parameters
    ----------
    a : array, shape (n,)
        Source masses, ``>= 0``. Zero entries are allowed (their rows of the plan are zero and
        their potentials ``-inf``). Never modified.
    b : array, shape (m,)
        Target masses, ``>= 0``, with ``sum(b) == sum(a)`` up to a relative ``1e-9`` (otherwise
        the result is ``INFEASIBLE``); a difference below that is taken for round-off and ``b`` is
        rescaled to the mass of ``a``.
    C : array, shape (n, m)
        Cost matrix (finite). Never modified.
    eps : float
        Entropic regularisation, ``> 0``, in the units of ``C``. Values down to ``1e-4 * max(C)``
        and below are fine: everything happens in the log domain.
    tol : float
        Stop when the L1 marginal violation ``||P 1 - a||_1 + ||P^T 1 - b||_1 <= tol``.
    max_iter : int
        Maximum number of Sinkhorn iterations (one iteration = one ``f``- and one ``g``-update).
    eps_scaling : bool
        Solve a geometric sequence of problems with ``eps_k = range(C) * 2^-k`` down to ``eps``,
        each warm-started from the previous potentials and solved to a relative marginal
        violation ``1e-3`` (at most 200 iterations), the last one to ``tol``.
    monitor : Monitor, optional
        Polled once per iteration; receives ``objective`` (the dual objective ``D(f, g)``),
        ``marginal_error_l1``, ``dual_objective`` and ``stage`` ("sinkhorn") on the iterations
        it selects, and ``epsilon`` when ``eps_scaling`` is on.
    f0, g0 : array, optional
        Starting potentials (warm start), shapes ``(n,)`` and ``(m,)``. Only ``g0`` matters when
        both are given (the first update is the ``f``-update); ``f0`` alone starts with a
        ``g``-update.

    Returns
    -------
    SolverResult
        ``solution = {"f", "g", "plan", "transport_cost"}`` with ``plan = exp((f + g - C) / eps)``
        (dense, the input's array module); ``objective`` = the entropic primal objective of that
        plan; ``certificate = {"marginal_error_l1", "dual_gap", "transport_cost",
        "primal_objective", "dual_objective"}``, all recomputed from the returned potentials by a
        fresh exp pass. ``info`` holds ``sinkhorn_iterations``, ``absorptions`` and
        ``returned_iteration``.

    Raises
    ------
    ValueError
        On inconsistent shapes, non-finite or negative data, ``eps <= 0``, ``tol < 0`` or
        ``max_iter < 0``.

    Notes
    -----
    **Iteration.** Alternating exact maximisation of ``D`` in ``f`` and in ``g`` (Sinkhorn's
    matrix scaling written for the potentials), in the log-stabilised form of Schmitzer [2]_:
    most updates cost two matrix-vector products with a stabilised kernel, and an exact
    max-shifted log-sum-exp update rebuilds the kernel whenever a scaling leaves
    ``exp(+-100)`` (see :class:`ScalingSinkhorn`). POT's ``sinkhorn_knopp`` works with
    ``exp(-C / eps)`` itself, which underflows to 0 once ``max(C) / eps > ~745``: rows of the
    kernel can vanish and it stops with warnings and an unconverged iterate, or NaN; POT's
    ``sinkhorn_log`` is safe but pays an O(nm) log-sum-exp per update.

    **Certificate.** The stopping test uses the marginal violation of the current iterate, which
    the next update provides at no cost (after an ``f``-update the row marginal is exact, and
    conversely). The returned iterate is then re-evaluated from its potentials: the reported
    ``marginal_error_l1`` is ``||P1 - a||_1 + ||P^T 1 - b||_1`` of the returned plan, and
    ``dual_gap = primal(P) - D(f, g) = <f, P1 - a> + <g, P^T 1 - b>`` is the Lagrangian gap,
    zero at the optimum (``P`` is feasible only up to the marginal violation, so this gap is a
    consistency measure, not an independent bound). ``CONVERGED`` only when the reported
    violation is ``<= tol``; otherwise the iterate of smallest violation seen is returned.

    References
    ----------
    .. [1] M. Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport",
       NeurIPS 2013.
    .. [2] B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
       problems", SIAM J. Sci. Comput. 41(3):A1443-A1481, 2019.
    .. [3] G. Peyré and M. Cuturi, "Computational optimal transport", Foundations and Trends in
       Machine Learning 11(5-6), 2019 (section 4.4, log-domain Sinkhorn).
    """
    with np.errstate(all="ignore"):
        return _sinkhorn_log(
            a,
            b,
            C,
            eps,
            tol=tol,
            max_iter=max_iter,
            eps_scaling=eps_scaling,
            monitor=monitor,
            f0=f0,
            g0=g0,
        )


def _sinkhorn_log(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    tol: float,
    max_iter: int,
    eps_scaling: bool,
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

    schedule = _epsilon_schedule(xp, prob.C, eps) if eps_scaling else [eps]
    eng = ScalingSinkhorn(xp, prob.C, prob.a, bal, schedule[0])
    eng.start(f_start, g_start)
    run = SinkhornRun(eng, prob, bal, monitor, max_iter, stage="sinkhorn")
    for stage_eps in schedule[:-1]:
        eng.set_eps(stage_eps)
        run.advance(max(tol, _STAGE_RTOL * prob.mass_a), sweeps=_STAGE_MAX_SWEEPS, record_eps=True)
        if run.status is not None and run.status is not SolverStatus.CONVERGED:
            break
        run.status = None
    if run.status is None:
        if eng.eps != eps:
            eng.set_eps(eps)
        run.best_err = math.inf  # earlier stages solved other problems
        run.advance(tol, sweeps=max_iter + 1, record_eps=eps_scaling)
    return run.result(tol, eps, started, {"absorptions": eng.absorptions})


def balanced_target(prob: OTProblem) -> Any:
    """``b`` rescaled to the mass of ``a`` when they differ (by round-off, see prepare)."""
    if prob.mass_a == prob.mass_b:
        return prob.b
    return prob.b * (prob.mass_a / prob.mass_b)


class SinkhornRun:
    """Drives a :class:`ScalingSinkhorn` on the balanced problem: stopping, monitor, best iterate.

    ``k`` counts full iterations (two half-updates); the best iterate is the one of smallest
    marginal violation seen (each half-update reports that of the iterate before it).
    """

    def __init__(
        self,
        eng: ScalingSinkhorn,
        prob: OTProblem,
        b: Any,
        monitor: Monitor | None,
        max_iter: int,
        *,
        stage: str,
        k: int = 0,
    ) -> None:
        self.eng = eng
        self.prob = prob
        self.b = b
        self.monitor = monitor
        self.max_iter = max_iter
        self.stage = stage
        self.k = k
        self.status: SolverStatus | None = None
        self.failure = ""
        self.best_err = math.inf
        self.best_k = 0
        self.best: State | None = None
        self.last_err = math.inf
        self.last_recorded = -1

    def advance(self, target: float, *, sweeps: int, record_eps: bool = False) -> None:
        """Up to ``sweeps`` iterations, or until the violation is ``<= target`` (``CONVERGED``)
        or the monitor / ``max_iter`` / a numerical failure stops the run."""
        eng = self.eng
        mon = self.monitor
        self.status = None
        for _ in range(sweeps):
            if mon is not None:
                stop = mon.check()
                if stop is not None:
                    self.status = stop
                    return
            if self.k >= self.max_iter:
                self.status = SolverStatus.MAX_ITER
                return
            self.k += 1
            for _half in range(2):
                err = eng.step()
                if not math.isfinite(err):
                    if self.best is None:
                        continue  # the starting point need not have a finite violation
                    self.status = SolverStatus.NUMERICAL_ERROR
                    self.failure = f"non-finite marginal violation at iteration {self.k}"
                    return
                if err < self.best_err:
                    self.best_err = err
                    self.best = eng.pre
                    self.best_k = self.k
                self.last_err = err
                if err <= target:
                    self.status = SolverStatus.CONVERGED
                    return
            if mon is not None and mon.wants_trace(self.k):
                self.record(record_eps)

    def record(self, record_eps: bool = False) -> None:
        if self.monitor is None:
            return
        f, g = combine(self.eng.pre)
        dual = self.eng.dual_balanced(f, g, self.prob.mass_a)
        measures: dict[str, float | str] = {
            "marginal_error_l1": float(self.last_err),
            "dual_objective": dual,
            "stage": self.stage,
        }
        if record_eps:
            measures["epsilon"] = float(self.eng.eps)
        self.monitor.record(self.k, dual, **measures)
        self.last_recorded = self.k

    def best_potentials(self) -> tuple[Any, Any]:
        if self.best is None:
            return self.eng.potentials()
        return combine(self.best)

    def result(
        self,
        tol: float,
        eps: float,
        started: float,
        info: dict[str, Any],
        method: str = "Sinkhorn",
    ) -> SolverResult:
        """The result record of a run that ends here: its best iterate, certified afresh, with
        ``info`` between the iteration counts."""
        cert, P, f, g = self.certify(tol, eps)
        return finish(
            self.prob,
            cert,
            P,
            f,
            g,
            self.status or SolverStatus.MAX_ITER,
            started,
            tol,
            iterations=self.k,
            max_iter=self.max_iter,
            info={"sinkhorn_iterations": self.k, **info, "returned_iteration": self.best_k},
            failure=self.failure,
            method=method,
        )

    def certify(self, tol: float, eps: float) -> tuple[Certificate, Any, Any, Any]:
        """Certificate of the best iterate for the problem at ``eps``. When the running
        violation claimed convergence that the fresh evaluation does not confirm (round-off
        between the two), iterate on with a tighter running target."""
        xp = self.eng.xp
        prob = self.prob
        target = tol
        for attempt in range(_FINAL_ATTEMPTS + 1):
            f, g = self.best_potentials()
            f, g = balance_gauge(xp, f, g, prob.a, self.b)
            Cs = self.eng.Cs if eps == self.eng.eps else None
            cert, P = entropic_certificate(xp, f, g, prob.C, prob.a, self.b, eps, Cs=Cs)
            if not (self.status is SolverStatus.CONVERGED and cert.marginal_error > tol):
                break
            if attempt == _FINAL_ATTEMPTS:
                self.status = SolverStatus.NUMERICAL_ERROR
                self.failure = "the marginal violation stalls above tol at round-off level"
                break
            target *= 0.25
            self.advance(target, sweeps=self.max_iter + 1)
        if self.monitor is not None:
            self.monitor.record(
                self.k,
                cert.dual,
                marginal_error_l1=cert.marginal_error,
                dual_objective=cert.dual,
                stage=self.stage,
            )
        return cert, P, f, g


def finish(
    prob: OTProblem,
    cert: Any,
    P: Any,
    f: Any,
    g: Any,
    status: SolverStatus,
    started: float,
    tol: float,
    *,
    iterations: int,
    max_iter: int,
    info: dict[str, Any],
    failure: str = "",
    method: str = "Sinkhorn",
) -> SolverResult:
    """Assemble the result of a balanced entropic solve (status from the recomputed certificate)."""
    if not cert.finite():
        status = SolverStatus.NUMERICAL_ERROR
        failure = failure or "non-finite potentials or plan"
    elif status is SolverStatus.CONVERGED and not cert.marginal_error <= tol:
        status = SolverStatus.MAX_ITER if iterations >= max_iter else SolverStatus.NUMERICAL_ERROR
    message = f"{method}: " + stop_message(
        status,
        measure="L1 marginal violation",
        value=cert.marginal_error,
        tol=tol,
        iterations=iterations,
        max_iter=max_iter,
        returned="the iterate of smallest marginal violation",
        failure=failure,
    )
    f_full, g_full = expand_potentials(prob, f, g)
    return SolverResult(
        status=status,
        objective=cert.primal,
        iterations=iterations,
        solve_time_s=time.perf_counter() - started,
        certificate=cert.as_dict(),
        solution={
            "f": f_full,
            "g": g_full,
            "plan": expand_plan(prob, P),
            "transport_cost": cert.transport_cost,
        },
        message=message,
        info=info,
    )


# ------------------------------------------------------------------------------------------------
def sinkhorn_unbalanced_log(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    tau_a: float,
    tau_b: float,
    *,
    reg_type: str = "entropy",
    tol: float = 1e-9,
    max_iter: int = 100_000,
    monitor: Monitor | None = None,
    f0: Any = None,
    g0: Any = None,
) -> SolverResult:
    r"""KL-relaxed (unbalanced) entropic optimal transport by log-domain Sinkhorn.

    Solves

    .. math::

        \min_{P \ge 0} \langle P, C \rangle + \varepsilon\, \Omega(P)
            + \tau_a \mathrm{KL}(P \mathbf 1 \,|\, a)
            + \tau_b \mathrm{KL}(P^\top \mathbf 1 \,|\, b),

    with the generalised ``KL(p | q) = sum p log(p / q) - p + q`` and ``Omega(P) = sum P (log P -
    1)`` (``reg_type="entropy"``, the convention of the balanced solvers, recovered for
    ``tau -> inf``) or ``Omega(P) = KL(P | a b^T)`` (``reg_type="kl"``, POT's default since 0.9.5).
    This is the problem ``ot.unbalanced.sinkhorn_unbalanced(a, b, C, eps, (tau_a, tau_b),
    reg_type=...)`` solves.

    Parameters
    ----------
    a, b : array, shapes (n,), (m,)
        Non-negative masses; their totals may differ. Never modified.
    C : array, shape (n, m)
        Cost matrix. Never modified.
    eps : float
        Entropic regularisation, ``> 0``.
    tau_a, tau_b : float
        Marginal relaxation weights, ``> 0``; ``math.inf`` enforces that marginal exactly.
    reg_type : {"entropy", "kl"}
        The entropic term, see above.
    tol : float
        Stop when the stationarity residual (see Notes) is ``<= tol``.
    max_iter, monitor, f0, g0
        As for :func:`sinkhorn_log`; the trace carries ``stationarity_residual_l1`` instead of
        ``marginal_error_l1``.

    Returns
    -------
    SolverResult
        ``solution = {"f", "g", "plan", "transport_cost"}``; ``objective`` = the primal objective
        above at ``P = exp((f + g - C) / eps)`` (for ``"kl"``: ``a_i b_j exp((f_i + g_j -
        C_ij) / eps)``); ``certificate = {"stationarity_residual_l1", "dual_gap",
        "transport_cost", "primal_objective", "dual_objective", "plan_mass"}``.

    Notes
    -----
    The dual is ``D(f, g) = -tau_a <a, e^{-f/tau_a} - 1> - tau_b <b, e^{-g/tau_b} - 1> -
    eps sum_ij e^{(f_i + g_j - C_ij)/eps}`` (plus ``eps sum(a) sum(b)`` for ``"kl"``, with ``C``
    replaced by ``C - eps log a_i - eps log b_j``), and its exact block maximisations are the
    scaling updates ``f <- tau_a / (tau_a + eps) (eps log a - eps LSE_j((g_j - C_ij)/eps))``
    (Chizat, Peyré, Schmitzer & Vialard [1]_), run here in the log-stabilised form of
    :class:`ScalingSinkhorn`. Marginals are not matched by design, so there is no marginal
    violation to certify with; the certificate is instead the L1 norm of the dual gradient,
    ``||P 1 - a e^{-f/tau_a}||_1 + ||P^T 1 - b e^{-g/tau_b}||_1`` (named
    ``stationarity_residual_l1``): it vanishes exactly at the fixed point of the updates, and
    after a ``g``-update its second term is zero. With both ``tau`` finite every ``P >= 0`` is
    feasible, so ``dual_gap = primal(P) - D(f, g) >= 0`` (up to round-off) bounds the
    suboptimality of both; with an infinite ``tau`` that marginal holds only up to the residual
    and the gap is a consistency measure, as in the balanced case.

    POT's ``log["total_cost"]`` evaluates the KL terms without their ``- p + q`` mass terms
    (``nx.kl_div`` with ``mass=False``), so it differs from the objective above by
    ``eps (sum(c) - sum(P)) + tau_a (sum(a) - sum(P)) + tau_b (sum(b) - sum(P))`` (``c`` the
    reference measure); the plans agree.

    References
    ----------
    .. [1] L. Chizat, G. Peyré, B. Schmitzer and F.-X. Vialard, "Scaling algorithms for
       unbalanced optimal transport problems", Mathematics of Computation 87:2563-2609, 2018.
    """
    with np.errstate(all="ignore"):
        return _sinkhorn_unbalanced_log(
            a,
            b,
            C,
            eps,
            tau_a,
            tau_b,
            reg_type=reg_type,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            f0=f0,
            g0=g0,
        )


def _kl(xp: Any, p: Any, q: Any) -> Any:
    """Generalised ``KL(p | q) = sum p log(p / q) - p + q`` for ``q > 0`` (``0 log 0 = 0``)."""
    pos = p > 0.0
    ratio = xp.where(pos, p / q, 1.0)
    return xp.sum(xp.where(pos, p * xp.log(ratio), 0.0) - p + q)


def _sinkhorn_unbalanced_log(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    tau_a: float,
    tau_b: float,
    *,
    reg_type: str,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    f0: Any,
    g0: Any,
) -> SolverResult:
    started = time.perf_counter()
    xp = array_namespace(C, a, b)
    eps, tol = _validate_scalars(eps, tol, max_iter)
    tau_a = float(tau_a)
    tau_b = float(tau_b)
    if not (tau_a > 0.0 and tau_b > 0.0):
        raise ValueError(f"tau_a and tau_b must be > 0 (math.inf allowed), got {tau_a}, {tau_b}")
    if reg_type not in ("entropy", "kl"):
        raise ValueError(f"reg_type must be 'entropy' or 'kl', got {reg_type!r}")
    prob = prepare_problem(a, b, C, xp=xp)
    Cw = prob.C
    constant = 0.0
    if reg_type == "kl":
        # eps KL(P | a b^T) = eps sum P (log P - 1) + <P, -eps (log a_i + log b_j)> + eps |a| |b|.
        Cw = prob.C - eps * (xp.log(prob.a)[:, None] + xp.log(prob.b)[None, :])
        constant = eps * prob.mass_a * prob.mass_b
    f_start, g_start = restrict_start(prob, f0, g0)

    eng = ScalingSinkhorn(xp, Cw, prob.a, prob.b, eps, tau_a=tau_a, tau_b=tau_b)
    eng.start(f_start, g_start)
    k = 0
    status: SolverStatus | None = None
    failure = ""
    best: State | None = None
    best_err = math.inf
    best_k = 0
    last_err = math.inf
    while status is None:
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1
        for _half in range(2):
            err = eng.step()
            if not math.isfinite(err):
                if best is None:
                    continue
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite residual at iteration {k}"
                break
            last_err = err
            if err < best_err:
                best_err, best, best_k = err, eng.pre, k
            if err <= tol:
                status = SolverStatus.CONVERGED
                break
        if status is None and monitor is not None and monitor.wants_trace(k):
            f, g = combine(eng.pre)
            # The iterate before the last half-update has an exact columns (rows) update, so
            # its plan mass is sum(b e^{-g/tau_b}) (sum(a e^{-f/tau_a})): O(n) instead of O(nm).
            if eng.pre_rows_exact:
                mass_pre = _relaxed_mass(xp, prob.a, f, tau_a)
            else:
                mass_pre = _relaxed_mass(xp, prob.b, g, tau_b)
            dual = _unbalanced_dual(xp, eng, f, g, mass_pre) + constant
            monitor.record(k, dual, stationarity_residual_l1=last_err, dual_objective=dual)

    f, g = eng.potentials() if best is None else combine(best)
    P = plan_from_potentials(xp, f, g, Cw, eps)
    r = xp.sum(P, axis=1)
    c = xp.sum(P, axis=0)
    res_a = r - prob.a * (1.0 if math.isinf(tau_a) else xp.exp(-f / tau_a))
    res_b = c - prob.b * (1.0 if math.isinf(tau_b) else xp.exp(-g / tau_b))
    kl_a = 0.0 if math.isinf(tau_a) else tau_a * _kl(xp, r, prob.a)
    kl_b = 0.0 if math.isinf(tau_b) else tau_b * _kl(xp, c, prob.b)
    resid, mass, fr, gc, cost, kla, klb = to_host(
        xp,
        xp.sum(xp.abs(res_a)) + xp.sum(xp.abs(res_b)),
        xp.sum(r),
        xp.dot(f, r),
        xp.dot(g, c),
        xp.vdot(P.ravel(), prob.C.ravel()),
        xp.asarray(kl_a),
        xp.asarray(kl_b),
    )
    primal = fr + gc - eps * mass + constant + kla + klb
    dual = _unbalanced_dual(xp, eng, f, g, mass) + constant
    certificate = {
        "stationarity_residual_l1": resid,
        "dual_gap": primal - dual,
        "transport_cost": cost,
        "primal_objective": primal,
        "dual_objective": dual,
        "plan_mass": mass,
    }
    if not all(math.isfinite(v) for v in certificate.values()):
        status = SolverStatus.NUMERICAL_ERROR
        failure = failure or "non-finite potentials or plan"
    elif status is SolverStatus.CONVERGED and not resid <= tol:
        # Round-off between the running residual and the fresh evaluation; rare and tiny.
        status = SolverStatus.MAX_ITER if k >= max_iter else SolverStatus.NUMERICAL_ERROR
        failure = "the stationarity residual stalls above tol at round-off level"
    if monitor is not None:
        monitor.record(k, dual, stationarity_residual_l1=resid, dual_objective=dual)
    status = status or SolverStatus.MAX_ITER
    if status is SolverStatus.CONVERGED:
        message = f"unbalanced Sinkhorn: stationarity residual {resid:.3e} <= tol {tol:.1e}"
    elif status is SolverStatus.NUMERICAL_ERROR:
        message = f"unbalanced Sinkhorn: {failure}; stationarity residual {resid:.3e}"
    else:
        message = (
            f"unbalanced Sinkhorn stopped ({status.value}) after {k} iterations; returning the "
            f"iterate of smallest stationarity residual, {resid:.3e}"
        )
    f_full, g_full = expand_potentials(prob, f, g)
    return SolverResult(
        status=status,
        objective=primal,
        iterations=k,
        solve_time_s=time.perf_counter() - started,
        certificate=certificate,
        solution={
            "f": f_full,
            "g": g_full,
            "plan": expand_plan(prob, P),
            "transport_cost": cost,
        },
        message=message,
        info={
            "sinkhorn_iterations": k,
            "absorptions": eng.absorptions,
            "returned_iteration": best_k,
            "reg_type": reg_type,
        },
    )


def _relaxed_mass(xp: Any, target: Any, pot: Any, tau: float) -> float:
    """``sum(target e^{-pot/tau})``: the mass of a marginal just set by its exact update."""
    if math.isinf(tau):
        return float(xp.sum(target))
    return float(xp.sum(target * xp.exp(-pot / tau)))


def _unbalanced_dual(xp: Any, eng: ScalingSinkhorn, f: Any, g: Any, mass: float) -> float:
    """``D(f, g)`` of the KL-relaxed problem without the ``"kl"`` constant (``mass = sum P``)."""
    eps = eng.eps
    if math.isinf(eng.tau_a):
        da = xp.dot(f, eng.a)
    else:
        da = -eng.tau_a * xp.sum(eng.a * (xp.exp(-f / eng.tau_a) - 1.0))
    if math.isinf(eng.tau_b):
        db = xp.dot(g, eng.b)
    else:
        db = -eng.tau_b * xp.sum(eng.b * (xp.exp(-g / eng.tau_b) - 1.0))
    va, vb = to_host(xp, da, db)
    return va + vb - eps * mass
