r"""Working-set coordinate descent for separable and group-separable penalties (CPU, numba).

Solves, with *unscaled* data-fit terms (scikit-learn divides its losses by ``n_samples``):

* :func:`solve_sparse_regression`: lasso, elastic net and weighted lasso,
  ``0.5 ||A x - b||^2 + lam sum_j w_j |x_j| + 0.5 l2 ||x||^2``;
* :func:`solve_group_lasso`: ``0.5 ||A x - b||^2 + lam sum_g w_g ||x_g||_2``;
* :func:`solve_sparse_logreg`: ``sum_i log(1 + exp(-y_i a_i^T x)) + lam ||x||_1``;
* :func:`solve_nonconvex_regression`: ``0.5 ||A x - b||^2 + sum_j pen(x_j)`` with MCP or SCAD.

**Method** (the recipe of Celer and skglm, plus an exact polishing step). An outer loop
computes the full gradient, a dual point and a duality-gap certificate (KKT residual for the
nonconvex penalties), removes features that gap-safe screening proves to be zero at the
optimum, and picks a *working set*: the current support plus the features whose optimality
conditions are violated the most, twice as many as the support has. An inner solver then
works on the working set only: cyclic (block) coordinate descent with exact coordinate (block)
minimisation, Anderson extrapolation every few epochs (kept only when it lowers the
objective), and, for the lasso and elastic net, Newton steps on the sign pattern once the
signs stop changing: restricted to a fixed sign pattern the problem is a least-squares problem
(its minimiser is the solution once the support is right, which coordinate descent finds long
before it converges on ill-conditioned designs); the steps go to the exact minimiser of the
true objective along the Newton direction, so they never increase it. Sparse logistic
regression uses a proximal Newton inner solver (coordinate descent on the quadratic model, on
its Gram matrix for small working sets; Armijo backtracking). The inner solve stops when its
own (working-set) criterion is a fraction of the outer one.

All of it runs on the CPU: the inner loops are numba kernels (:mod:`._cd_kernels`, compiled
once and cached on disk). Inputs that live on a GPU (cupy) are copied to the host first
(:func:`~workers.solvers.backend.to_numpy`); results are numpy arrays.

References
----------
.. [1] M. Massias, A. Gramfort and J. Salmon, "Celer: a fast solver for the Lasso with dual
   extrapolation", ICML 2018.
.. [2] Q. Bertrand, Q. Klopfenstein, P.-A. Bannier, G. Gidel and M. Massias, "Beyond L1: faster
   and better sparse models with skglm", NeurIPS 2022.
.. [3] Q. Bertrand and M. Massias, "Anderson acceleration of coordinate descent", AISTATS 2021.
.. [4] E. Ndiaye, O. Fercoq, A. Gramfort and J. Salmon, "Gap safe screening rules for sparsity
   enforcing penalties", JMLR 18(128), 2017.
.. [5] P. Tseng and S. Yun, "A coordinate gradient descent method for nonsmooth separable
   minimization", Mathematical Programming 117, 2009.
.. [6] J. Fan and R. Li, "Variable selection via nonconcave penalized likelihood and its oracle
   properties", JASA 96, 2001 (SCAD); C.-H. Zhang, "Nearly unbiased variable selection under
   minimax concave penalty", Annals of Statistics 38(2), 2010 (MCP).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.linalg

from workers.solvers.backend import to_numpy
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.prox import _cd_kernels as kern
from workers.solvers.result import SolverResult, SolverStatus, stop_message

__all__ = [
    "solve_group_lasso",
    "solve_nonconvex_regression",
    "solve_sparse_logreg",
    "solve_sparse_regression",
]

_TINY = float(np.finfo(np.float64).tiny)
_EPS = float(np.finfo(np.float64).eps)

# Working sets (see _select): _WS_GROWTH x the support, at least the support plus the violators
# up to _P0, and everything once that is _WS_ALL of what screening left.
_P0 = 100
_WS_GROWTH = 2
_WS_ALL = 0.5
# The inner solve stops when its working-set criterion is below _INNER_FRACTION of the outer one
# (_INNER_FRACTION_FINE once the last working set proved sufficient: outer <= _SUFFICIENT x
# inner), and never needs to go below _TOL_SAFETY x what tol asks of the outer criterion.
_INNER_FRACTION = 0.3
_INNER_FRACTION_FINE = 1e-3
_SUFFICIENT = 3.0
_TOL_SAFETY = 0.3
_ANDERSON_K = 5  # extrapolate from the last K + 1 epochs
_CHECK_EVERY = 6  # inner criterion every (K + 1) epochs, right after an extrapolation attempt
_CHUNK_EPOCHS = 60  # epochs per kernel call; the monitor is polled between calls
_MAX_INNER_EPOCHS = 20_000  # per outer iteration
_STABLE_CHECKS = 1  # signs unchanged between this many consecutive checks -> Newton polish
_MAX_POLISH = 20  # polishing attempts per inner solve
_POLISH_STEPS = 10  # Newton steps per attempt (plus one per nonzero beyond m when l2 = 0)
_POLISH_RIDGE = 1e-10  # relative ridge of the polishing direction when l2 = 0
_POLISH_BUDGET = 1.0  # polishing may cost this multiple of the coordinate-descent work so far
# Gap-safe screening discards j only if the test passes with this relative margin (rounding).
_SCREEN_MARGIN = 1e-9
_LOGREG_MAX_NEWTON = 50
_LOGREG_MAX_CD = 20
# Up to this working-set size the Newton model is solved on its Gram matrix (m |ws|^2 / 2 to
# form, then |ws|^2 per epoch) instead of on the data (2 m |ws| per epoch, ~20 epochs a step).
_LOGREG_GRAM_MAX = 100


# --------------------------------------------------------------------------------------------------
# certificate and the generic working-set loop
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Certificate:
    primal: float
    absolute: float  # duality gap (convex) or KKT residual (nonconvex)
    relative: float
    dual: float  # nan for the nonconvex penalties
    convex: bool
    scale: float  # relative = absolute / scale

    def finite(self) -> bool:
        values = [self.primal, self.absolute, self.relative]
        if self.convex:
            values.append(self.dual)
        return all(math.isfinite(v) for v in values)

    def as_dict(self) -> dict[str, float]:
        if self.convex:
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

    def trace_measures(self) -> dict[str, float]:
        if self.convex:
            return {"duality_gap": self.absolute, "relative_gap": self.relative}
        return {"kkt_residual": self.absolute, "relative_kkt_residual": self.relative}


def _gap_certificate(primal: float, gap: float) -> _Certificate:
    gap = max(gap, 0.0)  # >= 0 in exact arithmetic; only rounding can push it below
    scale = max(primal, _TINY)
    return _Certificate(primal, gap, gap / scale, primal - gap, True, scale)


@dataclass
class _Stats:
    epochs: int = 0
    extrapolations: int = 0
    newton_steps: int = 0
    polish_steps: int = 0
    screened: int = 0
    ws_sizes: list[int] = field(default_factory=list)


class _Problem(ABC):
    """One problem instance inside the working-set loop (state: the iterate and its fit)."""

    convex: bool = True
    stats: _Stats

    @abstractmethod
    def certify(self) -> _Certificate:
        """Certificate at the current iterate; also refreshes the full gradient for `grow`."""

    @abstractmethod
    def grow(self, cert: _Certificate) -> tuple[np.ndarray, bool]:
        """Screen (convex), then pick a working set (:func:`_select`).

        Returns the working set and whether it holds every unit not screened out."""

    @abstractmethod
    def inner(
        self, ws: np.ndarray, target: float, monitor: Monitor | None
    ) -> tuple[SolverStatus | None, float]:
        """Improve the iterate on ``ws`` until the working-set criterion is ``<= target``.

        Returns the caller's stop request (if the monitor asked to stop) and the last
        working-set criterion (``inf`` if never measured)."""

    @abstractmethod
    def solution(self) -> dict[str, Any]: ...


def _working_set_loop(
    problem: _Problem,
    *,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    started: float,
    measure: str,
) -> SolverResult:
    status: SolverStatus | None = None
    failure = ""
    k = 0
    ws_size = _P0
    last_recorded = -1
    interrupted: SolverStatus | None = None
    inner_crit = 0.0
    while True:
        cert = problem.certify()
        if not cert.finite():
            status = SolverStatus.NUMERICAL_ERROR
            failure = f"non-finite objective or certificate at iteration {k}"
            break
        if monitor is not None and monitor.wants_trace(k):
            monitor.record(
                k, cert.primal, working_set=float(ws_size if k else 0), **cert.trace_measures()
            )
            last_recorded = k
        if cert.relative <= tol:
            status = SolverStatus.CONVERGED
            break
        if interrupted is not None:
            status = interrupted
            break
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1
        ws, complete = problem.grow(cert)
        # The inner target: a fraction of the outer criterion, much smaller once the last
        # working set proved sufficient (the outer criterion came out close to the inner one)
        # and straight to what tol needs when the working set holds every unit left, so that
        # the last iterations are not spent recomputing full gradients.
        if complete:
            fraction = 0.0
        elif cert.absolute <= _SUFFICIENT * inner_crit:
            fraction = _INNER_FRACTION_FINE
        else:
            fraction = _INNER_FRACTION
        target = max(fraction * cert.absolute, _TOL_SAFETY * tol * cert.scale)
        ws_size = int(ws.size)
        problem.stats.ws_sizes.append(ws_size)
        interrupted, inner_crit = problem.inner(ws, target, monitor)
    if monitor is not None and last_recorded != k and cert.finite():
        monitor.record(k, cert.primal, working_set=float(ws_size), **cert.trace_measures())
    message = stop_message(
        status,
        measure=measure,
        value=cert.relative,
        tol=tol,
        iterations=k,
        max_iter=max_iter,
        returned="the last iterate",
        failure=failure,
    )
    st = problem.stats
    return SolverResult(
        status=status,
        objective=cert.primal,
        iterations=k,
        solve_time_s=time.perf_counter() - started,
        certificate=cert.as_dict(),
        solution=problem.solution(),
        message=message,
        info={
            "epochs": st.epochs,
            "extrapolations_accepted": st.extrapolations,
            "newton_steps": st.newton_steps,
            "polish_steps": st.polish_steps,
            "screened": st.screened,
            "working_set_sizes": st.ws_sizes,
        },
    )


# --------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------
def _design(A: Any) -> tuple[np.ndarray, np.ndarray]:
    """``A^T`` as a C-ordered float64 array (a view when ``A`` is Fortran-ordered float64), and
    the squared column norms ``||a_j||^2``."""
    arr = to_numpy(A)
    if np.dtype(arr.dtype).kind not in "fiub":
        raise ValueError(f"A must be real and numeric, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"A must be a non-empty 2-D array, got shape {arr.shape}")
    # A copy only when the layout or dtype requires one; the kernels never write into AT.
    AT = np.ascontiguousarray(np.asarray(arr, dtype=np.float64).T)
    norms2 = np.einsum("ij,ij->i", AT, AT)
    if not np.all(np.isfinite(norms2)) and not np.all(np.isfinite(AT)):
        raise ValueError("A must be finite")
    # Finite entries whose squares overflow are a numerical failure, not bad input: the solver
    # loop meets the non-finite certificate and returns NUMERICAL_ERROR with its iterate.
    return AT, norms2


def _partial_dot(AT: np.ndarray, idx: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """``A^T v`` on the columns ``idx`` (all when ``None``), zero elsewhere."""
    if idx is None:
        return AT @ v
    out = np.zeros(AT.shape[0])
    vals = np.empty(idx.size)
    kern.rows_dot(AT, idx, v, vals)
    out[idx] = vals
    return out


def _fit(AT: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A x`` using only the support of ``x`` (no gathered copy of the columns)."""
    supp = np.flatnonzero(x)
    out = np.empty(AT.shape[1])
    kern.rows_combination(AT, supp, x[supp], out)
    return out


def _vector(v: Any, size: int, name: str) -> np.ndarray:
    arr = to_numpy(v)
    if np.dtype(arr.dtype).kind not in "fiub":
        raise ValueError(f"{name} must be real and numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _check_scalars(lam: float, tol: float, max_iter: int) -> tuple[float, float]:
    lam = float(lam)
    tol = float(tol)
    if not (math.isfinite(lam) and lam >= 0.0):
        raise ValueError(f"lam must be finite and >= 0, got {lam}")
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    return lam, tol


class _Projector:
    """Orthogonal projection onto the complement of the span of the unpenalised columns.

    With ``l2 == 0`` an unpenalised column ``j`` turns its dual constraint into ``a_j^T theta =
    0``, which residual rescaling alone cannot meet; projecting the residual first (and then
    rescaling for the penalised columns) gives a feasible dual point, exactly at the optimum.
    """

    def __init__(self, AT_unpen: np.ndarray, AT: np.ndarray) -> None:
        Q, R, _ = scipy.linalg.qr(AT_unpen.T, mode="economic", pivoting=True)
        diag = np.abs(np.diag(R))
        rank = 0
        if diag.size and diag[0] > 0.0:
            rank = int(np.sum(diag > diag[0] * max(AT_unpen.shape) * _EPS))
        self.Q = np.ascontiguousarray(Q[:, :rank])
        self.ATQ = AT @ self.Q  # A^T Q, so that A^T (P r) = A^T r - (A^T Q)(Q^T r)

    def apply(self, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P r, A^T P r)`` from ``r`` and ``c = A^T r``."""
        qr = self.Q.T @ r
        return r - self.Q @ qr, c - self.ATQ @ qr


def _select(score: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, bool]:
    """The working set: the best-scored active units, sorted (cyclic order).

    ``score`` is ``+inf`` on units that must be in (the support), positive on units that
    violate their optimality condition, ``-inf`` on units that cannot enter. The size is
    ``_WS_GROWTH`` times the support, and at least the support plus the violators up to
    ``_P0`` units. When that is more than ``_WS_ALL`` of the active units, all of them: the
    inner epochs would then cost about as much as the full gradient that a smaller set saves.
    Also returns whether the set holds every active unit.
    """
    n_avail = int(np.count_nonzero(active))
    forced = int(np.count_nonzero(score == np.inf))
    violators = int(np.count_nonzero((score > 0.0) & (score < np.inf)))
    size = max(_WS_GROWTH * forced, min(_P0, forced + violators), 1)
    size = min(size, n_avail)
    if size >= _WS_ALL * n_avail:
        return np.flatnonzero(active).astype(np.int64), True
    idx = np.argpartition(score, score.size - size)[score.size - size :]
    idx = idx[active[idx]]
    return np.sort(idx).astype(np.int64), False


# --------------------------------------------------------------------------------------------------
# quadratic data fit, separable penalties (lasso, elastic net, weighted lasso, MCP, SCAD)
# --------------------------------------------------------------------------------------------------
class _Quadratic(_Problem):
    def __init__(
        self,
        AT: np.ndarray,
        b: np.ndarray,
        lamw: np.ndarray,
        *,
        l2: float,
        gamma: float,
        pen: int,
        lam: float,
        x0: np.ndarray | None,
        norms2: np.ndarray,
    ) -> None:
        self.AT, self.b, self.lamw = AT, b, lamw
        self.l2, self.gamma, self.pen, self.lam = l2, gamma, pen, lam
        self.convex = pen == kern.PEN_L1
        n, m = AT.shape
        self.norms2 = norms2
        self.norms = np.sqrt(self.norms2)
        self.x = np.zeros(n) if x0 is None else x0.copy()
        self.r = b.copy()
        self._refresh_residual()
        self.c = np.zeros(n)  # A^T r at the last certificate
        self.active = np.ones(n, dtype=bool)  # not (yet) screened out
        self._active_idx: np.ndarray | None = None  # None: all active
        self.stats = _Stats()
        self.projector: _Projector | None = None
        if self.convex and l2 == 0.0 and np.any(lamw == 0.0):
            self.projector = _Projector(AT[lamw == 0.0], AT)
        self._Atb: np.ndarray | None = None
        self._gram_cols: np.ndarray | None = None
        self._gram_cache: np.ndarray | None = None
        self.polish = self.convex
        self._cd_work = 0.0  # multiply-adds spent in coordinate descent (epochs x |ws| x m)
        self._polish_work = 0.0  # and in polishing (Gram rows, factorisations)
        self._theta_scale = 1.0
        self._radius = math.inf

    def _refresh_residual(self) -> None:
        """``r = b - A x`` from scratch (drops the rounding drift of incremental updates)."""
        self.r = self.b - _fit(self.AT, self.x)

    def certify(self) -> _Certificate:
        x, r, lamw, l2 = self.x, self.r, self.lamw, self.l2
        act = self.active
        c = _partial_dot(self.AT, self._active_idx, r)
        self.c = c
        rr = float(r @ r)
        if not self.convex:
            dist = _subdiff_distance_np(c, x, self.lam, self.gamma, self.pen)
            primal = 0.5 * rr + float(np.sum(_pen_value_np(x, self.lam, self.gamma, self.pen)))
            kkt = float(np.max(dist[act])) if act.any() else 0.0
            scale = max(self.lam, _TINY)
            return _Certificate(primal, kkt, kkt / scale, math.nan, False, scale)
        pen_val = float(lamw @ np.abs(x)) + 0.5 * l2 * float(x @ x)
        primal = 0.5 * rr + pen_val
        xc = float(x @ c)
        penalised = act & (lamw > 0.0)
        if self.projector is not None:
            theta, ctheta = self.projector.apply(r, c)
            ratio = float(np.max(np.abs(ctheta[penalised]) / lamw[penalised], initial=0.0))
            s = max(1.0, ratio)
            theta = theta / s
            dual = float(self.b @ theta) - 0.5 * float(theta @ theta)
            gap = primal - dual
            self._theta_scale = s
        else:
            ratio = float(np.max(np.abs(c[penalised]) / lamw[penalised], initial=0.0))
            s = max(1.0, ratio)
            # P - D(r / s) without cancelling 0.5 ||b||^2-sized terms (b.r = ||r||^2 + x.c)
            gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen_val - xc / s
            self._theta_scale = s
            if l2 > 0.0:
                excess = np.maximum(np.abs(c[act]) - lamw[act], 0.0)
                gap_unscaled = pen_val - xc + 0.5 * float(excess @ excess) / l2
                if gap_unscaled < gap:
                    gap = gap_unscaled
                    self._theta_scale = 1.0
        cert = _gap_certificate(primal, gap)
        # Gap-safe sphere: the dual is 1-strongly concave, so ||theta - theta*|| <= sqrt(2 gap).
        self._radius = math.sqrt(2.0 * cert.absolute)
        return cert

    def _screen(self) -> None:
        """Gap-safe rule: drop j when ``|a_j^T theta| + ||a_j|| radius < lam w_j``."""
        if not self.convex or self.projector is not None:
            return
        s = self._theta_scale
        bound = np.abs(self.c) / s + self.norms * self._radius
        drop = self.active & (bound < self.lamw * (1.0 - _SCREEN_MARGIN))
        if drop.any():
            idx = np.flatnonzero(drop)
            nz = idx[self.x[idx] != 0.0]
            if nz.size:
                self.x[nz] = 0.0
                self._refresh_residual()
            self.active[idx] = False
            self._active_idx = np.flatnonzero(self.active)
            self.stats.screened += int(idx.size)

    def grow(self, cert: _Certificate) -> tuple[np.ndarray, bool]:
        self._screen()
        x, c, act = self.x, self.c, self.active
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (np.abs(c) - self.lamw) / self.norms
        score[self.norms == 0.0] = -np.inf
        score[x != 0.0] = np.inf
        if self.convex:
            score[(self.lamw == 0.0) & (self.norms > 0.0)] = np.inf
        score[~act] = -np.inf
        return _select(score, act)

    def inner(
        self, ws: np.ndarray, target: float, monitor: Monitor | None
    ) -> tuple[SolverStatus | None, float]:
        m = self.AT.shape[1]
        spent = 0
        polishes = 0
        stop: SolverStatus | None = None
        crit = math.inf
        while spent < _MAX_INNER_EPOCHS:
            stable = _STABLE_CHECKS if self.polish and polishes < _MAX_POLISH else 0
            epochs, crit, code, acc = kern.quad_inner(
                self.AT,
                self.x,
                self.r,
                ws,
                self.norms2,
                self.lamw,
                self.l2,
                self.gamma,
                self.pen,
                target,
                _CHUNK_EPOCHS,
                _CHECK_EVERY,
                _ANDERSON_K,
                stable,
            )
            spent += epochs
            self._cd_work += float(epochs) * ws.size * m
            self.stats.extrapolations += acc
            if code == kern.INNER_TARGET:
                break
            if code == kern.INNER_STABLE:
                polishes += 1
                if self._newton_polish(ws):
                    crit = math.inf  # not measured after the step; the outer loop will
                    break
            if monitor is not None:
                stop = monitor.check()
                if stop is not None:
                    break
        self.stats.epochs += spent
        self._refresh_residual()
        return stop, crit

    def _gram_new_rows(self, S: np.ndarray) -> int:
        """How many rows of ``A_S^T A_S`` :meth:`_gram` would have to compute."""
        C = self._gram_cols
        if C is None or not C.size:
            return int(S.size)
        pos = np.minimum(np.searchsorted(C, S), C.size - 1)
        n_new = int(S.size - np.count_nonzero(C[pos] == S))
        return int(S.size) if n_new * 2 > S.size else n_new

    def _gram(self, S: np.ndarray) -> np.ndarray:
        """``A_S^T A_S`` for a sorted index set ``S``, reusing the entries of the last call.

        Successive supports differ by a few features, so only the rows of the new ones are
        computed (``O(m |S| |new|)`` instead of ``O(m |S|^2)``).
        """
        C, GC = self._gram_cols, self._gram_cache
        if C is not None and GC is not None and C.size:
            pos = np.minimum(np.searchsorted(C, S), C.size - 1)
            known = C[pos] == S
            n_new = int(S.size - np.count_nonzero(known))
        else:
            n_new = S.size
        AS = self.AT[S]
        if n_new * 2 > S.size or C is None or GC is None:
            gram = AS @ AS.T
        else:
            gram = np.empty((S.size, S.size))
            io = np.flatnonzero(known)
            gram[np.ix_(io, io)] = GC[np.ix_(pos[io], pos[io])]
            inew = np.flatnonzero(~known)
            if inew.size:
                block = AS[inew] @ AS.T
                gram[inew, :] = block
                gram[:, inew] = block.T
        self._gram_cols, self._gram_cache = S, gram
        return gram

    def _newton_polish(self, ws: np.ndarray) -> bool:
        """Newton steps on the sign pattern (:func:`._cd_kernels.polish_l1`); ``True`` if the
        iterate now minimises the objective over its sign pattern.

        With ``S`` the support and ``s`` its signs, the objective restricted to
        ``{x: sign(x_S) = s, x_{-S} = 0}`` is a quadratic whose minimiser solves
        ``(A_S^T A_S + l2 I) u = A_S^T b - lam w_S * s``: the solution itself once the support
        is right, which coordinate descent finds long before it converges on ill-conditioned
        designs. Steps go along the Newton direction to the exact minimiser of the true
        objective on that line (so the objective never increases), dropping coordinates that
        reach zero, as in the feature-sign search of Lee et al. (NIPS 2006) without its feature
        additions, which coordinate descent and the working sets provide. Everything happens in
        the space of ``S`` (``A_S^T A_S`` is cached across calls); the residual is recomputed
        at the end and the step is kept only if the objective did not increase.
        """
        x = self.x
        m = self.AT.shape[1]
        S = ws[x[ws] != 0.0]
        if S.size == 0:
            return False
        # Budget: polishing may cost (multiply-adds) as much as the coordinate descent so far,
        # so that it can at most double the work where it does not help.
        cost = float(m) * S.size * self._gram_new_rows(S) + S.size**3 / 3.0 + 2.0 * m * S.size
        if self._polish_work + cost > _POLISH_BUDGET * self._cd_work:
            return False
        self._polish_work += cost
        gram = self._gram(S)
        cS = np.empty(S.size)
        kern.rows_dot(self.AT, S, self.r, cS)
        # With l2 = 0 and A_S rank deficient (always so when |S| > m) the tiny ridge keeps the
        # factorisation defined; the direction then points into the null space of A_S, where
        # the exact line search removes coordinates (at least one per step).
        ridge = 0.0 if self.l2 > 0.0 else _POLISH_RIDGE * float(np.mean(np.diag(gram)))
        steps_max = _POLISH_STEPS + (max(0, S.size - m + 1) if self.l2 == 0.0 else 0)
        xs = x[S].copy()
        lw = self.lamw[S]
        try:
            U = scipy.linalg.cholesky(
                gram + (self.l2 + ridge) * np.eye(S.size), lower=False, check_finite=False
            )
        except np.linalg.LinAlgError:
            return False
        U = np.ascontiguousarray(U)
        steps, converged = kern.polish_l1(gram, U, cS, xs, lw, self.l2, steps_max)
        self.stats.polish_steps += steps
        if not np.all(np.isfinite(xs)):
            return False
        r = np.empty(m)
        kern.rows_combination(self.AT, S, xs, r)
        r = self.b - r
        old = (
            0.5 * float(self.r @ self.r)
            + float(lw @ np.abs(x[S]))
            + 0.5 * self.l2 * float(x[S] @ x[S])
        )
        new = 0.5 * float(r @ r) + float(lw @ np.abs(xs)) + 0.5 * self.l2 * float(xs @ xs)
        if not new <= old:
            return False  # rounding: nothing gained
        x[S] = xs
        self.r = r
        return bool(converged)

    def solution(self) -> dict[str, Any]:
        return {"x": self.x, "support_size": int(np.count_nonzero(self.x))}


def _pen_value_np(x: np.ndarray, lam: float, gamma: float, pen: int) -> np.ndarray:
    a = np.abs(x)
    if pen == kern.PEN_MCP:
        return np.where(a <= gamma * lam, lam * a - 0.5 * a * a / gamma, 0.5 * gamma * lam * lam)
    return np.where(
        a <= lam,
        lam * a,
        np.where(
            a <= gamma * lam,
            (2.0 * gamma * lam * a - a * a - lam * lam) / (2.0 * (gamma - 1.0)),
            0.5 * lam * lam * (gamma + 1.0),
        ),
    )


def _pen_derivative_np(x: np.ndarray, lam: float, gamma: float, pen: int) -> np.ndarray:
    """``pen'(x)`` for ``x != 0`` (MCP / SCAD)."""
    a = np.abs(x)
    if pen == kern.PEN_MCP:
        d = np.maximum(lam - a / gamma, 0.0)
    else:
        d = np.where(a <= lam, lam, np.maximum(gamma * lam - a, 0.0) / (gamma - 1.0))
    return np.sign(x) * d


def _subdiff_distance_np(
    c: np.ndarray, x: np.ndarray, lam: float, gamma: float, pen: int
) -> np.ndarray:
    """``dist(-grad_j, partial pen(x_j))`` with ``c = -grad = A^T r`` (MCP / SCAD)."""
    at_zero = np.maximum(np.abs(c) - lam, 0.0)
    off_zero = np.abs(c - _pen_derivative_np(x, lam, gamma, pen))
    return np.where(x == 0.0, at_zero, off_zero)


# --------------------------------------------------------------------------------------------------
# group lasso
# --------------------------------------------------------------------------------------------------
class _GroupLasso(_Problem):
    def __init__(self, AT: np.ndarray, b: np.ndarray, ptr: np.ndarray, lamw: np.ndarray) -> None:
        self.AT, self.b, self.ptr, self.lamw = AT, b, ptr, lamw
        n, m = AT.shape
        G = ptr.size - 1
        sizes = np.diff(ptr)
        gmax = int(sizes.max())
        self.sizes = sizes
        self.evals = np.zeros((G, gmax))
        self.evecs = np.zeros((G, gmax, gmax))
        for size in np.unique(sizes):
            gids = np.flatnonzero(sizes == size)
            rows = ptr[gids][:, None] + np.arange(size)[None, :]
            blocks = AT[rows]  # (groups, size, m)
            grams = blocks @ blocks.transpose(0, 2, 1)
            w, V = np.linalg.eigh(grams)
            self.evals[gids, :size] = w
            self.evecs[gids, :size, :size] = V
        self.spectral = np.sqrt(np.maximum(self.evals.max(axis=1), 0.0))  # ||A_g||_2
        self.group_of = np.repeat(np.arange(G), sizes)
        self.x = np.zeros(n)
        self.r = b.copy()
        self.c = np.zeros(n)
        self.cnorm = np.zeros(G)
        self.active = np.ones(G, dtype=bool)
        self._active_idx: np.ndarray | None = None  # active columns; None: all
        self.stats = _Stats()
        self.projector: _Projector | None = None
        if np.any(lamw == 0.0):
            self.projector = _Projector(AT[lamw[self.group_of] == 0.0], AT)
        self._theta_scale = 1.0
        self._radius = math.inf

    def _group_norms(self, v: np.ndarray) -> np.ndarray:
        return np.sqrt(np.add.reduceat(v * v, self.ptr[:-1]))

    def certify(self) -> _Certificate:
        x, r, lamw = self.x, self.r, self.lamw
        c = _partial_dot(self.AT, self._active_idx, r)
        self.c = c
        rr = float(r @ r)
        xn = self._group_norms(x)
        pen_val = float(lamw @ xn)
        primal = 0.5 * rr + pen_val
        penalised = self.active & (lamw > 0.0)
        if self.projector is not None:
            theta, ctheta = self.projector.apply(r, c)
            cn = self._group_norms(ctheta)
            s = max(1.0, float(np.max(cn[penalised] / lamw[penalised], initial=0.0)))
            theta = theta / s
            gap = primal - (float(self.b @ theta) - 0.5 * float(theta @ theta))
        else:
            cn = self._group_norms(c)
            s = max(1.0, float(np.max(cn[penalised] / lamw[penalised], initial=0.0)))
            gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen_val - float(x @ c) / s
        self.cnorm = cn
        self._theta_scale = s
        cert = _gap_certificate(primal, gap)
        self._radius = math.sqrt(2.0 * cert.absolute)
        return cert

    def _screen(self) -> None:
        if self.projector is not None:
            return
        bound = self.cnorm / self._theta_scale + self.spectral * self._radius
        drop = self.active & (bound < self.lamw * (1.0 - _SCREEN_MARGIN))
        if drop.any():
            cols = drop[self.group_of]
            if np.any(self.x[cols] != 0.0):
                self.x[cols] = 0.0
                self.r = self.b - _fit(self.AT, self.x)
            self.active[drop] = False
            self._active_idx = np.flatnonzero(self.active[self.group_of])
            self.stats.screened += int(np.count_nonzero(drop))

    def grow(self, cert: _Certificate) -> tuple[np.ndarray, bool]:
        self._screen()
        xn = self._group_norms(self.x)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (self.cnorm - self.lamw) / self.spectral
        score[self.spectral == 0.0] = -np.inf
        score[xn != 0.0] = np.inf
        score[(self.lamw == 0.0) & (self.spectral > 0.0)] = np.inf
        score[~self.active] = -np.inf
        return _select(score, self.active)

    def inner(
        self, ws: np.ndarray, target: float, monitor: Monitor | None
    ) -> tuple[SolverStatus | None, float]:
        spent = 0
        stop: SolverStatus | None = None
        crit = math.inf
        while spent < _MAX_INNER_EPOCHS:
            epochs, crit, code, acc = kern.group_inner(
                self.AT,
                self.x,
                self.r,
                ws,
                self.ptr,
                self.evals,
                self.evecs,
                self.lamw,
                target,
                _CHUNK_EPOCHS,
                _CHECK_EVERY,
                _ANDERSON_K,
            )
            spent += epochs
            self.stats.extrapolations += acc
            if code == kern.INNER_TARGET:
                break
            if monitor is not None:
                stop = monitor.check()
                if stop is not None:
                    break
        self.stats.epochs += spent
        self.r = self.b - _fit(self.AT, self.x)
        return stop, crit

    def solution(self) -> dict[str, Any]:
        return {"x": self.x}


# --------------------------------------------------------------------------------------------------
# sparse logistic regression
# --------------------------------------------------------------------------------------------------
def _log1pexp(v: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, v)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


class _SparseLogreg(_Problem):
    def __init__(self, AT: np.ndarray, y: np.ndarray, lam: float, norms2: np.ndarray) -> None:
        self.AT, self.y, self.lam = AT, y, lam
        n, m = AT.shape
        self.norms = np.sqrt(norms2)
        self.x = np.zeros(n)
        self.z = np.zeros(m)
        self.c = np.zeros(n)
        self.active = np.ones(n, dtype=bool)
        self._active_idx: np.ndarray | None = None
        self.stats = _Stats()
        self._theta_scale = 1.0
        self._radius = math.inf

    def certify(self) -> _Certificate:
        x, y, z, lam = self.x, self.y, self.z, self.lam
        sg = _sigmoid(-y * z)  # sigmoid(-y z)
        w = y * sg
        act = self.active
        c = _partial_dot(self.AT, self._active_idx, w)
        self.c = c
        primal = float(np.sum(_log1pexp(-y * z))) + lam * float(np.sum(np.abs(x)))
        s = max(1.0, float(np.max(np.abs(c[act]), initial=0.0)) / lam)
        t = sg / s
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(t > 0.0, t * np.log(t), 0.0) + np.where(
                t < 1.0, (1.0 - t) * np.log1p(-t), 0.0
            )
        dual = -float(np.sum(ent))
        self._theta_scale = s
        cert = _gap_certificate(primal, primal - dual)
        # The dual is 4-strongly concave (the entropy's curvature is 1/(t(1-t)) >= 4).
        self._radius = math.sqrt(0.5 * cert.absolute)
        return cert

    def _screen(self) -> None:
        bound = np.abs(self.c) / self._theta_scale + self.norms * self._radius
        drop = self.active & (bound < self.lam * (1.0 - _SCREEN_MARGIN))
        if drop.any():
            idx = np.flatnonzero(drop)
            nz = idx[self.x[idx] != 0.0]
            if nz.size:
                self.x[nz] = 0.0
                self._refresh_fit()
            self.active[idx] = False
            self._active_idx = np.flatnonzero(self.active)
            self.stats.screened += int(idx.size)

    def _refresh_fit(self) -> None:
        self.z = _fit(self.AT, self.x)

    def grow(self, cert: _Certificate) -> tuple[np.ndarray, bool]:
        self._screen()
        x, act = self.x, self.active
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (np.abs(self.c) - self.lam) / self.norms
        score[self.norms == 0.0] = -np.inf
        score[x != 0.0] = np.inf
        score[~act] = -np.inf
        return _select(score, act)

    def inner(
        self, ws: np.ndarray, target: float, monitor: Monitor | None
    ) -> tuple[SolverStatus | None, float]:
        steps, crit, _, epochs = kern.logreg_inner(
            self.AT,
            self.y,
            self.x,
            self.z,
            ws,
            self.lam,
            target,
            _LOGREG_MAX_NEWTON,
            _LOGREG_MAX_CD,
            _LOGREG_GRAM_MAX,
        )
        self.stats.newton_steps += steps
        self.stats.epochs += epochs
        self._refresh_fit()
        return (monitor.check() if monitor is not None else None), crit

    def solution(self) -> dict[str, Any]:
        return {"x": self.x, "support_size": int(np.count_nonzero(self.x))}


# --------------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------------
def solve_sparse_regression(
    A: Any,
    b: Any,
    lam: float,
    *,
    l2: float = 0.0,
    weights: Any = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    monitor: Monitor | None = None,
    x0: Any = None,
) -> SolverResult:
    r"""Lasso, elastic net and weighted lasso by working-set coordinate descent.

    .. math::

        \min_x \; P(x) = \tfrac12 \lVert A x - b \rVert_2^2
        + \lambda \sum_j w_j \lvert x_j \rvert + \tfrac{\ell_2}{2} \lVert x \rVert_2^2

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (dense). Never modified; a Fortran-ordered float64 array avoids one copy.
        CPU only: a cupy array is copied to the host.
    b : array, shape (m,)
        Observations.
    lam : float
        ``lam >= 0``. Unscaled: scikit-learn's ``Lasso(alpha)`` is ``lam = alpha * m``. With
        unit weights, ``x = 0`` is optimal iff ``lam >= lam_max = ||A^T b||_inf``.
    l2 : float
        Ridge weight ``>= 0`` (elastic net). scikit-learn's ``ElasticNet(alpha, l1_ratio)`` is
        ``lam = alpha * l1_ratio * m``, ``l2 = alpha * (1 - l1_ratio) * m``.
    weights : array, shape (n,), optional
        Nonnegative per-coordinate weights ``w_j`` (default ones); ``w_j = 0`` leaves ``x_j``
        unpenalised.
    tol : float
        Stop when the relative duality gap ``gap / P(x) <= tol``.
    max_iter : int
        Maximum number of *outer* (working-set) iterations; each runs an inner solve of at most
        20 000 coordinate-descent epochs on its working set.
    monitor : Monitor, optional
        Polled between outer iterations and every 60 inner epochs; receives a trace point per
        outer iteration it selects, with ``duality_gap``, ``relative_gap`` and
        ``working_set`` (its size).
    x0 : array, shape (n,), optional
        Warm start. Never modified.

    Returns
    -------
    SolverResult
        ``solution = {"x", "support_size"}``; ``certificate = {"duality_gap", "relative_gap",
        "primal", "dual"}`` at the returned ``x``; ``info`` has the epochs, accepted Anderson
        extrapolations, Newton polishing attempts, screened features and working-set sizes.

    Notes
    -----
    **Dual point.** The Fenchel dual is ``D(theta) = b^T theta - 0.5 ||theta||^2 -
    sum_j (|a_j^T theta| - lam w_j)_+^2 / (2 l2)`` (for ``l2 = 0`` the last term becomes the
    constraint ``|a_j^T theta| <= lam w_j``). With ``r = b - A x`` we use ``theta = r / s``,
    ``s = max(1, max_j |a_j^T r| / (lam w_j))`` (feasible for every ``l2``), and for ``l2 > 0``
    also ``theta = r``, keeping the larger dual value. Unpenalised columns with ``l2 = 0``
    require ``a_j^T theta = 0``: ``r`` is then first projected onto the orthogonal complement of
    their span (a QR factorisation computed once). The gap is evaluated as a sum of terms that
    do not cancel (``b^T r = ||r||^2 + x^T A^T r``), so small relative gaps stay measurable.

    **Screening.** The dual is 1-strongly concave, so ``||theta - theta*|| <= sqrt(2 gap)``;
    a feature with ``|a_j^T theta| + ||a_j|| sqrt(2 gap) < lam w_j`` is zero at the optimum and
    is removed for good. The certificate then refers to the problem without the removed
    features, which has the same optimal value.
    """
    started = time.perf_counter()
    lam, tol = _check_scalars(lam, tol, max_iter)
    l2 = float(l2)
    if not (math.isfinite(l2) and l2 >= 0.0):
        raise ValueError(f"l2 must be finite and >= 0, got {l2}")
    AT, norms2 = _design(A)
    n, m = AT.shape
    b_arr = _vector(b, m, "b")
    w = np.ones(n) if weights is None else _vector(weights, n, "weights")
    if np.any(w < 0.0):
        raise ValueError("weights must be >= 0")
    x_init = None if x0 is None else _vector(x0, n, "x0")
    with np.errstate(all="ignore"):
        problem = _Quadratic(
            AT, b_arr, lam * w, l2=l2, gamma=0.0, pen=kern.PEN_L1, lam=lam, x0=x_init, norms2=norms2
        )
        return _working_set_loop(
            problem,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            started=started,
            measure="relative duality gap",
        )


def solve_group_lasso(
    A: Any,
    b: Any,
    lam: float,
    groups: Any,
    *,
    weights: Any = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Group lasso by working-set exact block coordinate descent.

    .. math::

        \min_x \; \tfrac12 \lVert A x - b \rVert_2^2 + \lambda \sum_g w_g \lVert x_g \rVert_2

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (dense, never modified; CPU only).
    b : array, shape (m,)
        Observations.
    lam : float
        ``lam >= 0``; ``x = 0`` is optimal iff ``lam >= max_g ||A_g^T b||_2 / w_g``.
    groups : int array, shape (n,)
        Group label of each column (any integers, groups need not be contiguous).
    weights : array, shape (n_groups,), optional
        Nonnegative group weights in the order of the *sorted* distinct labels; default
        ``sqrt(|g|)``.
    tol, max_iter, monitor
        As in :func:`solve_sparse_regression` (``max_iter`` counts outer iterations).

    Returns
    -------
    SolverResult
        ``solution = {"x", "support_size" (nonzero coefficients), "active_groups"}``;
        certificate as in :func:`solve_sparse_regression`.

    Notes
    -----
    Each block step minimises the objective *exactly* over one group: with ``G = A_g^T A_g =
    V diag(e) V^T`` (eigendecompositions computed once) and ``q = G x_g + A_g^T r``, the block
    minimiser is ``0`` if ``||q|| <= lam w_g`` and otherwise ``(G + mu I)^{-1} q`` where
    ``mu > 0`` solves the scalar equation ``mu ||(G + mu I)^{-1} q|| = lam w_g`` (safeguarded
    Newton, a few ``O(|g|)`` steps). The dual point is the rescaled residual
    ``r / max(1, max_g ||A_g^T r|| / (lam w_g))`` and gap-safe screening removes groups with
    ``||A_g^T theta|| + ||A_g||_2 sqrt(2 gap) < lam w_g``.
    """
    started = time.perf_counter()
    lam, tol = _check_scalars(lam, tol, max_iter)
    AT, _ = _design(A)
    n, m = AT.shape
    b_arr = _vector(b, m, "b")
    g_arr = np.asarray(to_numpy(groups))
    if g_arr.shape != (n,) or np.dtype(g_arr.dtype).kind not in "iu":
        raise ValueError(f"groups must be an integer array of shape ({n},)")
    labels, inverse = np.unique(g_arr, return_inverse=True)
    sizes = np.bincount(inverse)
    G = labels.size
    if weights is None:
        w = np.sqrt(sizes.astype(np.float64))
    else:
        w = _vector(weights, G, "weights")
        if np.any(w < 0.0):
            raise ValueError("weights must be >= 0")
    perm = np.argsort(inverse, kind="stable")
    identity = bool(np.array_equal(perm, np.arange(n)))
    ATp = AT if identity else AT[perm]
    ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    with np.errstate(all="ignore"):
        problem = _GroupLasso(ATp, b_arr, ptr, lam * w)
        result = _working_set_loop(
            problem,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            started=started,
            measure="relative duality gap",
        )
    xp = result.solution["x"]
    x = np.empty(n)
    x[perm] = xp
    result.solution = {
        "x": x,
        "support_size": int(np.count_nonzero(x)),
        "active_groups": labels[problem._group_norms(xp) != 0.0],
    }
    return result


def solve_sparse_logreg(
    A: Any,
    y: Any,
    lam: float,
    *,
    tol: float = 1e-6,
    max_iter: int = 1000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""l1-regularised logistic regression (no intercept) by working-set proximal Newton.

    .. math::

        \min_x \; \sum_i \log\bigl(1 + e^{-y_i a_i^T x}\bigr) + \lambda \lVert x \rVert_1,
        \qquad y_i \in \{-1, +1\}

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (dense, never modified; CPU only).
    y : array, shape (m,)
        Labels in ``{-1, +1}``.
    lam : float
        ``lam > 0``; ``x = 0`` is optimal iff ``lam >= ||A^T y||_inf / 2``. scikit-learn's
        ``LogisticRegression(penalty="l1", C=C, fit_intercept=False)`` is ``lam = 1 / C``.
    tol, max_iter, monitor
        As in :func:`solve_sparse_regression` (``max_iter`` counts outer iterations; each
        runs at most 50 proximal Newton steps on its working set).

    Returns
    -------
    SolverResult
        ``solution = {"x", "support_size"}``; ``certificate = {"duality_gap", "relative_gap",
        "primal", "dual"}``.

    Notes
    -----
    The dual is ``max_u -sum_i [t_i log t_i + (1 - t_i) log(1 - t_i)]`` with ``t_i = y_i u_i
    in [0, 1]`` and ``||A^T u||_inf <= lam``; the dual point is ``u = y * sigmoid(-y z) / s``
    with ``z = A x`` and ``s = max(1, ||A^T (y * sigmoid(-y z))||_inf / lam)``. The dual is
    4-strongly concave, which gives the gap-safe radius ``sqrt(gap / 2)``.
    """
    started = time.perf_counter()
    lam, tol = _check_scalars(lam, tol, max_iter)
    if lam == 0.0:
        raise ValueError("lam must be > 0 (unregularised logistic regression may have no minimum)")
    AT, norms2 = _design(A)
    n, m = AT.shape
    y_arr = _vector(y, m, "y")
    if not np.all(np.abs(y_arr) == 1.0):
        raise ValueError("y must contain only -1 and +1")
    with np.errstate(all="ignore"):
        problem = _SparseLogreg(AT, y_arr, lam, norms2)
        return _working_set_loop(
            problem,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            started=started,
            measure="relative duality gap",
        )


def solve_nonconvex_regression(
    A: Any,
    b: Any,
    lam: float,
    gamma: float,
    *,
    penalty: Literal["mcp", "scad"],
    tol: float = 1e-6,
    max_iter: int = 1000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Least squares with the MCP or SCAD penalty by working-set coordinate descent.

    .. math::

        \min_x \; \tfrac12 \lVert A x - b \rVert_2^2 + \sum_j p_{\lambda,\gamma}(x_j)

    with ``p(t) = lam |t| - t^2 / (2 gamma)`` for ``|t| <= gamma lam`` and
    ``gamma lam^2 / 2`` beyond (MCP, ``gamma > 0``), or SCAD (``gamma > 2``): ``lam |t|`` up to
    ``lam``, ``(2 gamma lam |t| - t^2 - lam^2) / (2 (gamma - 1))`` up to ``gamma lam``, then
    ``lam^2 (gamma + 1) / 2``.

    Parameters
    ----------
    A, b
        As in :func:`solve_sparse_regression` (CPU only).
    lam : float
        ``lam > 0``.
    gamma : float
        Concavity parameter (MCP: ``> 0``; SCAD: ``> 2``). Units matter: the data fit is not
        divided by ``m``, so scikit-learn/skglm-style MCP with loss ``||Ax - b||^2 / (2 m)``,
        ``alpha`` and ``gamma_s`` is this problem with ``lam = m alpha`` and
        ``gamma = gamma_s / m`` (SCAD's thresholds are ``lam`` and ``gamma lam`` in units of
        ``x``, so scaled SCAD has no exact unscaled counterpart with the same ``gamma``).
    penalty : {"mcp", "scad"}
    tol : float
        Stop when the relative KKT residual ``max_j dist(-grad_j f(x), partial p(x_j)) / lam``
        is ``<= tol``.
    max_iter, monitor
        As in :func:`solve_sparse_regression` (outer iterations).

    Returns
    -------
    SolverResult
        ``solution = {"x", "support_size"}``; ``certificate = {"kkt_residual",
        "relative_kkt_residual", "primal"}``.

    Notes
    -----
    The problem is nonconvex: the certificate is first-order stationarity (``x`` is a critical
    point), not global optimality, and there is no duality gap. Each coordinate step minimises
    the objective exactly in its coordinate (the 1-D problem is piecewise quadratic; the
    minimiser is picked among the stationary points of the pieces, so any ``gamma`` works even
    when ``gamma ||a_j||^2 <= 1``), so the objective never increases.
    """
    started = time.perf_counter()
    lam, tol = _check_scalars(lam, tol, max_iter)
    gamma = float(gamma)
    if penalty not in ("mcp", "scad"):
        raise ValueError(f"penalty must be 'mcp' or 'scad', got {penalty!r}")
    if lam == 0.0:
        raise ValueError("lam must be > 0")
    low = 0.0 if penalty == "mcp" else 2.0
    if not (math.isfinite(gamma) and gamma > low):
        raise ValueError(f"gamma must be > {low} for {penalty}, got {gamma}")
    AT, norms2 = _design(A)
    n, m = AT.shape
    b_arr = _vector(b, m, "b")
    pen = kern.PEN_MCP if penalty == "mcp" else kern.PEN_SCAD
    with np.errstate(all="ignore"):
        problem = _Quadratic(
            AT,
            b_arr,
            np.full(n, lam),
            l2=0.0,
            gamma=gamma,
            pen=pen,
            lam=lam,
            x0=None,
            norms2=norms2,
        )
        return _working_set_loop(
            problem,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            started=started,
            measure="relative KKT residual",
        )
