r"""Problem templates: named convex problems compiled to SCS standard form.

Each builder returns ``(A, b, c, cones, recover)``: ``A`` a ``scipy.sparse`` CSC matrix, ``b`` and
``c`` numpy vectors and ``cones`` a :class:`~workers.solvers.conic.cones.ConeSpec`, so that
:func:`~workers.solvers.conic.scs.solve_conic` solves

.. math::

    \min_x c^T x \quad \text{s.t.} \quad A x + s = b,\; s \in K,

and ``recover(x, y, s)`` maps a solution back to named parts in the user's terms, always with an
``"objective"`` entry evaluated *from the recovered parts* (so it is honest even for an inexact
solution). The spectral cones keep these programs small: the D-optimal design needs one
log-det cone instead of a ``2n x 2n`` PSD cone plus ``n`` exponential cones, robust PCA one
nuclear-norm cone instead of an ``(m + n) x (m + n)`` PSD cone (Cederberg & Boyd 2024).

Vectorisations (those of :mod:`.spectral`): symmetric matrices by ``svec`` (lower triangle column
by column, off-diagonal entries times ``sqrt 2``), the nuclear-norm cone's ``m x n`` matrix
(``m >= n``) column by column.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from workers.solvers.backend import to_numpy
from workers.solvers.conic.cones import ConeSpec

__all__ = [
    "Template",
    "experimental_design",
    "graph_partitioning",
    "max_cut",
    "robust_pca",
    "sdp",
]

Recover = Callable[[Any, Any, Any], dict[str, Any]]
Template = tuple[sp.csc_matrix, np.ndarray, np.ndarray, ConeSpec, Recover]

_SQRT2 = math.sqrt(2.0)


# --- svec helpers -------------------------------------------------------------------------------
def _tri(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``i``, columns ``j`` (``i >= j``) and weights of the svec entries, in svec order."""
    j, i = np.triu_indices(n)  # (r, c) with r <= c row by row == lower triangle column-wise
    w = np.where(i == j, 1.0, _SQRT2)
    return i, j, w


def _svec_pos(n: int) -> np.ndarray:
    """``pos[i, j]``: index in svec of entry ``(i, j)`` (symmetric, both triangles)."""
    i, j, _ = _tri(n)
    pos = np.empty((n, n), dtype=np.int64)
    k = np.arange(i.size)
    pos[i, j] = k
    pos[j, i] = k
    return pos


def _svec(X: np.ndarray) -> np.ndarray:
    i, j, w = _tri(X.shape[0])
    return X[i, j] * w


def _smat(v: np.ndarray, n: int) -> np.ndarray:
    i, j, w = _tri(n)
    X = np.zeros((n, n))
    X[i, j] = v / w
    X[j, i] = v / w
    return X


def _host(v: Any) -> np.ndarray:
    return np.asarray(to_numpy(v), dtype=np.float64)


def _dense(M: Any, name: str) -> np.ndarray:
    out = M.toarray() if sp.issparse(M) else _host(M)
    if out.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {out.shape}")
    return np.asarray(out, dtype=np.float64)


# --- experimental design ------------------------------------------------------------------------
def experimental_design(V: Any, *, criterion: Literal["D", "A", "E"] = "D") -> Template:
    r"""Optimal experimental design over the probability simplex.

    Given candidate regressors ``v_1, ..., v_p`` (the columns of ``V``, shape ``(n, p)``) choose
    weights ``w`` in the simplex for the information matrix ``M(w) = sum_j w_j v_j v_j^T``:

    * ``"D"``: maximise ``log det M(w)``. With the log-det cone
      ``{(t, u, X) : t >= -u log det(X / u)}`` and ``u = 1``: minimise ``t`` s.t.
      ``(t, 1, M(w)) in K_logdet``, ``1^T w = 1``, ``w >= 0``; then ``log det M = -t``.
      Variables ``(w, t)``; cones ``z = 1, l = p, d = (n,)``.
    * ``"A"``: minimise ``tr M(w)^{-1}``, by a Schur complement: minimise ``tr U`` s.t.
      ``[[M(w), I], [I, U]] >= 0`` (one PSD cone of order ``2n``). Variables ``(w, svec U)``.
    * ``"E"``: maximise ``lambda_min(M(w))``: minimise ``-lam`` s.t. ``M(w) - lam I >= 0``.
      Variables ``(w, lam)``.

    ``recover`` returns ``{"w", "information_matrix", "objective"}`` with the objective (log det,
    trace of the inverse, or smallest eigenvalue) evaluated at the returned ``w`` (clipped to
    ``>= 0``; the simplex equality holds to the solver's tolerance).
    """
    Vd = _dense(V, "V")
    n, p = Vd.shape
    if n < 1 or p < 1:
        raise ValueError("V must be non-empty")
    i, j, wt = _tri(n)
    N = i.size
    # svec(v_k v_k^T) for every candidate k, one column each
    outer = Vd[i, :] * Vd[j, :] * wt[:, None]  # (N, p)
    simplex_row = sp.csc_matrix(np.concatenate((np.ones(p), [0.0]))[None, :])

    if criterion == "D":
        # Variables (w, t, u). The cone's scale variable u is pinned to 1 by an equality in the
        # zero cone rather than by a constant row inside the log-det block: a row of A that is
        # all zero inside a cone block is enforced only through that block's shared scaling,
        # and DR then crawls (measured: the u row stalled at a residual of 0.7 for n = 30).
        nv = p + 2
        A = sp.vstack(
            [
                sp.csc_matrix(np.concatenate((np.ones(p), [0.0, 0.0]))[None, :]),  # 1^T w = 1
                sp.csc_matrix(([1.0], ([0], [p + 1])), shape=(1, nv)),  # u = 1
                sp.hstack([-sp.identity(p), sp.csc_matrix((p, 2))]),  # l: w >= 0
                sp.csc_matrix(([-1.0], ([0], [p])), shape=(1, nv)),  # cone: t
                sp.csc_matrix(([-1.0], ([0], [p + 1])), shape=(1, nv)),  # cone: u
                sp.hstack([sp.csc_matrix(-outer), sp.csc_matrix((N, 2))]),  # cone: X = M(w)
            ],
            format="csc",
        )
        b = np.concatenate(([1.0, 1.0], np.zeros(p), [0.0, 0.0], np.zeros(N)))
        c = np.zeros(nv)
        c[p] = 1.0
        cones = ConeSpec(z=2, l=p, d=(n,))
    elif criterion == "A":
        n2 = 2 * n
        pos = _svec_pos(n2)
        N2 = n2 * (n2 + 1) // 2
        nv = p + N
        # M(w) block (rows/cols < n) in the big svec: entries pos[i, j] for i >= j
        rows_m = pos[i, j]
        Aw = sp.csc_matrix(-outer)
        Aw = sp.csc_matrix((Aw.data, rows_m[Aw.indices], Aw.indptr), shape=(N2, p))
        # U block: big (n + i, n + j) <- u_k (same svec weight on both sides)
        Au = sp.csc_matrix((-np.ones(N), (pos[n + i, n + j], np.arange(N))), shape=(N2, N))
        A = sp.vstack(
            [
                sp.hstack([simplex_row[:, :p], sp.csc_matrix((1, N))]),
                sp.hstack([-sp.identity(p), sp.csc_matrix((p, N))]),
                sp.hstack([Aw, Au]),
            ],
            format="csc",
        )
        b_psd = np.zeros(N2)
        b_psd[pos[n + np.arange(n), np.arange(n)]] = _SQRT2  # the identity blocks
        b = np.concatenate(([1.0], np.zeros(p), b_psd))
        c = np.zeros(nv)
        c[p + np.flatnonzero(i == j)] = 1.0  # tr U
        cones = ConeSpec(z=1, l=p, s=(n2,))
    elif criterion == "E":
        nv = p + 1  # (w, lam)
        eye = _svec(np.eye(n))
        A = sp.vstack(
            [
                simplex_row,
                sp.hstack([-sp.identity(p), sp.csc_matrix((p, 1))]),
                sp.csc_matrix(np.hstack([-outer, eye[:, None]])),
            ],
            format="csc",
        )
        b = np.concatenate(([1.0], np.zeros(p), np.zeros(N)))
        c = np.zeros(nv)
        c[p] = -1.0
        cones = ConeSpec(z=1, l=p, s=(n,))
    else:
        raise ValueError(f"criterion must be 'D', 'A' or 'E', got {criterion!r}")

    def recover(x: Any, y: Any, s: Any) -> dict[str, Any]:
        w = np.maximum(_host(x)[:p], 0.0)
        M = (Vd * w) @ Vd.T
        eig = np.linalg.eigvalsh(M)
        if criterion == "D":
            value = float(np.sum(np.log(eig))) if eig[0] > 0 else -math.inf
        elif criterion == "A":
            value = float(np.sum(1.0 / eig)) if eig[0] > 0 else math.inf
        else:
            value = float(eig[0])
        return {"w": w, "information_matrix": M, "objective": value}

    return A, b, c, cones, recover


# --- robust PCA -----------------------------------------------------------------------------------
def robust_pca(
    M: Any,
    *,
    lam: float | None = None,
    mu: float | None = None,
    formulation: Literal["orthant", "ell1"] = "orthant",
) -> Template:
    r"""Robust PCA (principal component pursuit) of a matrix ``M`` (``m x n``).

    Without ``mu`` (exact decomposition, Candès, Li, Ma & Wright 2011):

    .. math::

        \min_{L, S} \|L\|_* + \lambda \|S\|_1 \quad \text{s.t.} \quad L + S = M,

    with ``lam = 1 / sqrt(max(m, n))`` by default. With ``mu > 0`` (stable principal component
    pursuit for noisy data, Zhou et al. 2010) the equality becomes a quadratic penalty,

    .. math::

        \min_{L, S} \|L\|_* + \lambda \|S\|_1 + \tfrac{1}{2\mu} \|L + S - M\|_F^2,

    written with one more variable ``r >= ||L + S - M||_F^2`` as the second-order cone
    ``(r + 1, r - 1, 2 (L + S - M))`` and ``r / (2 mu)`` in the objective.

    The nuclear norm is always one nuclear-norm cone ``(t1, vec L)``. The l1 term has two forms:

    * ``"orthant"`` (default): ``|S_ij| <= T_ij`` as ``2 mn`` rows of the nonnegative orthant and
      ``lam sum T`` in the objective; without ``mu`` ``S = M - L`` is eliminated (variables
      ``(vec L, vec T, t1)``, cones ``l = 2mn`` and one ``nuc``).
    * ``"ell1"``: one l1-norm cone ``(t2, vec S)`` with ``lam t2`` in the objective, plus
      ``L + S = M`` in the zero cone (variables ``(vec L, vec S, t1, t2)``): the formulation of
      Cederberg & Boyd with two spectral cones.

    The orthant form is the faster one here. The l1 cone's epigraph entry ``t2 = ||S||_1`` is by
    far the largest entry of ``s``, so SCS's relative stopping rule (scaled by ``||s||_inf``)
    lets the other entries stop early: at ``eps = 1e-4`` the ell1 form needed 250 iterations
    on a 100 x 50 rank-10 instance and ended 6e-4 above the optimal value, the orthant form 110
    iterations and 1e-4 above (200 x 100: 250 vs 100 iterations, 3e-3 vs 2e-4).

    When ``m < n`` the problem is posed on ``M^T`` (the nuclear-norm cone wants ``m >= n``) and
    transposed back by ``recover``, which returns ``{"L", "S", "objective", "residual"}``. In the
    exact problem ``S = M - L`` (a feasible point, so ``objective >= `` the optimum) and
    ``residual`` is ``||L + S - M||_F`` of the solver's own ``(L, S)`` (0 for the orthant form,
    which has no ``S``); with ``mu`` both come from the solver and the objective is the
    penalised one.
    """
    if mu is not None and not (mu > 0.0 and math.isfinite(mu)):
        raise ValueError(f"mu must be positive and finite, got {mu}")
    if formulation not in ("orthant", "ell1"):
        raise ValueError(f"formulation must be 'orthant' or 'ell1', got {formulation!r}")
    Md, lam_v, transpose = _rpca_data(M, lam)
    m, n = Md.shape
    mn = m * n
    vecM = Md.ravel(order="F")
    I_ = sp.identity(mn, format="csc")

    # Column blocks of x, in order; each is (name, width).
    names = ["L"]
    if formulation == "ell1" or mu is not None:
        names.append("S")
    if formulation == "orthant":
        names.append("T")
    names.append("t1")
    if formulation == "ell1":
        names.append("t2")
    if mu is not None:
        names.append("r")
    width = {k: (1 if k in ("t1", "t2", "r") else mn) for k in names}
    start = {}
    pos = 0
    for k in names:
        start[k] = pos
        pos += width[k]
    nv = pos

    def row(blocks: dict[str, Any], height: int) -> sp.csc_matrix:
        """One block row of A: ``blocks`` maps a column block to its coefficient matrix."""
        parts = []
        for k in names:
            coef = blocks.get(k)
            if coef is None:
                parts.append(sp.csc_matrix((height, width[k])))
            elif isinstance(coef, float):
                parts.append(sp.csc_matrix(np.full((height, 1), coef)))
            else:
                parts.append(coef)
        return sp.hstack(parts, format="csc")

    rows: list[sp.csc_matrix] = []
    bs: list[np.ndarray] = []
    z = l_rows = 0
    q: tuple[int, ...] = ()
    if formulation == "ell1" and mu is None:  # z: L + S = M
        rows.append(row({"L": I_, "S": I_}, mn))
        bs.append(vecM)
        z = mn
    if formulation == "orthant":
        if mu is None:  # T >= |M - L|: T + L - M >= 0 and T - L + M >= 0
            rows += [row({"L": -I_, "T": -I_}, mn), row({"L": I_, "T": -I_}, mn)]
            bs += [-vecM, vecM]
        else:  # T >= |S|
            rows += [row({"S": I_, "T": -I_}, mn), row({"S": -I_, "T": -I_}, mn)]
            bs += [np.zeros(mn), np.zeros(mn)]
        l_rows = 2 * mn
    if mu is not None:  # SOC (r + 1, r - 1, 2 (L + S - M))
        rows += [row({"r": -1.0}, 1), row({"r": -1.0}, 1), row({"L": -2 * I_, "S": -2 * I_}, mn)]
        bs += [np.array([1.0, -1.0]), -2.0 * vecM]
        q = (mn + 2,)
    rows += [row({"t1": -1.0}, 1), row({"L": -I_}, mn)]  # nuc: (t1, L)
    bs += [np.zeros(1 + mn)]
    if formulation == "ell1":  # ell1: (t2, S)
        rows += [row({"t2": -1.0}, 1), row({"S": -I_}, mn)]
        bs += [np.zeros(1 + mn)]
    A = sp.vstack(rows, format="csc")
    b = np.concatenate(bs)
    c = np.zeros(nv)
    c[start["t1"]] = 1.0
    if formulation == "ell1":
        c[start["t2"]] = lam_v
    else:
        c[start["T"] : start["T"] + mn] = lam_v
    if mu is not None:
        c[start["r"]] = 1.0 / (2.0 * mu)
    cones = ConeSpec(
        z=z,
        l=l_rows,
        q=q,
        nuc_m=(m,),
        nuc_n=(n,),
        ell1=(mn,) if formulation == "ell1" else (),
    )
    s_start = start.get("S")
    return A, b, c, cones, _rpca_recover(Md, lam_v, transpose, mu, s_start)


def _rpca_data(M: Any, lam: float | None) -> tuple[np.ndarray, float, bool]:
    Md = _dense(M, "M")
    transpose = Md.shape[0] < Md.shape[1]
    if transpose:
        Md = Md.T.copy()
    m, n = Md.shape
    if n < 1:
        raise ValueError("M must be non-empty")
    lam_v = 1.0 / math.sqrt(max(m, n)) if lam is None else float(lam)
    if not (lam_v > 0.0 and math.isfinite(lam_v)):
        raise ValueError(f"lam must be positive and finite, got {lam}")
    return Md, lam_v, transpose


def _rpca_recover(
    Md: np.ndarray, lam: float, transpose: bool, mu: float | None, s_start: int | None
) -> Recover:
    m, n = Md.shape
    mn = m * n
    vecM = Md.ravel(order="F")

    def recover(x: Any, y: Any, s: Any) -> dict[str, Any]:
        xv = _host(x)
        L = xv[:mn].reshape((m, n), order="F")
        S_own = None if s_start is None else xv[s_start : s_start + mn]
        if mu is None:
            # the feasible point nearest the iterate's L: S = M - L (L + S = M exactly)
            S = Md - L
            resid = 0.0 if S_own is None else float(np.linalg.norm(xv[:mn] + S_own - vecM))
        else:
            assert S_own is not None
            S = S_own.reshape((m, n), order="F")
            resid = float(np.linalg.norm(L + S - Md))
        value = float(np.sum(np.linalg.svd(L, compute_uv=False))) + lam * float(np.sum(np.abs(S)))
        if mu is not None:
            value += resid**2 / (2.0 * mu)
        if transpose:
            L, S = L.T, S.T
        return {"L": L, "S": S, "objective": value, "residual": resid}

    return recover


# --- graph partitioning ---------------------------------------------------------------------------
def graph_partitioning(L: Any, k: int, *, n: int | None = None) -> Template:
    r"""Eigenvalue lower bound on the minimum ``k``-way equipartition cut (Donath & Hoffman).

    For a graph with Laplacian ``L`` (``n x n``, or an edge list ``(i, j, weight)`` rows with
    ``n`` given) and a partition into ``k`` parts of ``n / k`` nodes, the cut weight satisfies

    .. math::

        \mathrm{cut} \;\ge\; \frac{n}{2k} \max_{d:\, \mathbf 1^T d = 0}
        \sum_{i=1}^{k} \lambda_i^{\uparrow}\bigl(L + \operatorname{diag}(d)\bigr)

    (Donath & Hoffman 1973: with the normalised indicator matrix ``U`` of a partition,
    ``cut = (n / 2k) tr(U^T (L + diag d) U)`` for any ``d`` with ``1^T d = 0``, and Ky Fan's
    principle bounds the trace below by the sum of the ``k`` smallest eigenvalues). As the sum of
    the ``k`` smallest eigenvalues of ``Y`` is ``-`` the sum of the ``k`` largest of ``-Y``, the
    bound is the conic program

    .. math::

        \min_{d, t} \; t \quad \text{s.t.} \quad (t, -L - \operatorname{diag}(d)) \in
        \mathcal K_{\mathrm{sl}}(n, k), \quad \mathbf 1^T d = 0,

    with the sum-of-``k``-largest-eigenvalues cone ``{(t, X) : sum_{i<=k} lambda_i(X) <= t}``,
    and bound ``= -(n / 2k) t*``. This is, as far as we could reconstruct it, the graph
    partitioning relaxation used to exercise that cone by Cederberg & Boyd (2024); it replaces the
    two ``n x n`` PSD cones of the standard SDP form of ``lambda_sum_largest``.

    ``recover`` returns ``{"d", "objective" (the lower bound at the returned ``d``, evaluated by
    an eigendecomposition, hence valid for any ``d`` with ``1^T d = 0`` after centring),
    "embedding" (the ``k`` bottom eigenvectors of ``L + diag d``, for rounding)}``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    Ld = _laplacian(L, n)
    nn = Ld.shape[0]
    if k > nn:
        raise ValueError(f"k={k} exceeds the number of nodes {nn}")
    i, j, _ = _tri(nn)
    N = i.size
    diag_rows = np.flatnonzero(i == j)  # svec positions of X_ii, in order i = 0..n-1
    nv = nn + 1  # (d, t)
    # s_X = svec(-L - diag d) = b - A x with b = svec(-L) and A[diag_i, d_i] = +1
    A = sp.vstack(
        [
            sp.csc_matrix(np.concatenate((np.ones(nn), [0.0]))[None, :]),  # z: 1^T d = 0
            sp.csc_matrix(([-1.0], ([0], [nn])), shape=(1, nv)),  # sl: t
            sp.csc_matrix((np.ones(nn), (diag_rows, np.arange(nn))), shape=(N, nv)),  # sl: X
        ],
        format="csc",
    )
    b = np.concatenate(([0.0, 0.0], _svec(-Ld)))
    c = np.zeros(nv)
    c[nn] = 1.0
    cones = ConeSpec(z=1, sl_n=(nn,), sl_k=(k,))

    def recover(x: Any, y: Any, s: Any) -> dict[str, Any]:
        d = _host(x)[:nn]
        d = d - d.mean()  # keep the bound valid: it needs 1^T d = 0 exactly
        lam, Q = np.linalg.eigh(Ld + np.diag(d))
        bound = nn / (2.0 * k) * float(np.sum(lam[:k]))
        return {"d": d, "objective": bound, "embedding": Q[:, :k]}

    return A, b, c, cones, recover


def _laplacian(L: Any, n: int | None) -> np.ndarray:
    if n is not None:  # an edge list (i, j, weight)
        E = _host(L)
        if E.ndim != 2 or E.shape[1] not in (2, 3):
            raise ValueError("an edge list must have rows (i, j) or (i, j, weight)")
        ii = E[:, 0].astype(np.int64)
        jj = E[:, 1].astype(np.int64)
        ww = E[:, 2] if E.shape[1] == 3 else np.ones(E.shape[0])
        W = np.zeros((n, n))
        np.add.at(W, (ii, jj), ww)
        np.add.at(W, (jj, ii), ww)
        np.fill_diagonal(W, 0.0)
        return np.diag(W.sum(axis=1)) - W
    Ld = _dense(L, "L")
    if Ld.shape[0] != Ld.shape[1]:
        raise ValueError(f"L must be square, got shape {Ld.shape}")
    return 0.5 * (Ld + Ld.T)


# --- max cut --------------------------------------------------------------------------------------
def max_cut(W: Any, *, n_rounds: int = 100, seed: int = 0) -> Template:
    r"""Goemans-Williamson max-cut: SDP relaxation, then random-hyperplane rounding.

    .. math::

        \max_X \tfrac14 \langle L, X \rangle \quad \text{s.t.} \quad \operatorname{diag} X =
        \mathbf 1,\; X \succeq 0,

    with ``L = diag(W 1) - W``. The unit diagonal is folded into ``b``: the variables are the
    ``n (n - 1) / 2`` scaled off-diagonal entries ``sqrt2 X_ij`` (``i > j``), and
    ``s = svec(X) = svec(I) + (those entries)`` lies in one PSD cone (no zero cone; the KKT
    system is diagonal).

    ``recover`` returns ``{"X", "objective" (``1/4 <L, X>`` at the returned ``X``, the SDP
    bound), "cut_value", "partition" (+1/-1 per node), "bound_ratio"}``: ``n_rounds`` random
    hyperplanes (``numpy.random.default_rng(seed)``) through a factor ``V`` of ``X = V V^T``;
    the best cut ``1/4 sum_ij W_ij (1 - x_i x_j)`` is kept.
    """
    Wd = _dense(W, "W")
    n = Wd.shape[0]
    if Wd.shape != (n, n) or n < 2:
        raise ValueError(f"W must be square with n >= 2, got shape {Wd.shape}")
    Wd = 0.5 * (Wd + Wd.T)
    np.fill_diagonal(Wd, 0.0)
    Lap = np.diag(Wd.sum(axis=1)) - Wd
    i, j, _ = _tri(n)
    N = i.size
    off = np.flatnonzero(i != j)
    nv = off.size
    A = sp.csc_matrix((-np.ones(nv), (off, np.arange(nv))), shape=(N, nv))
    b = _svec(np.eye(n))
    c = -(_SQRT2 / 4.0) * Lap[i[off], j[off]]
    cones = ConeSpec(s=(n,))
    const = 0.25 * float(np.trace(Lap))

    def recover(x: Any, y: Any, s: Any) -> dict[str, Any]:
        xv = _host(x)
        X = np.eye(n)
        vals = xv / _SQRT2
        X[i[off], j[off]] = vals
        X[j[off], i[off]] = vals
        sdp_value = const + 0.25 * float(np.sum(Lap * (X - np.eye(n))))
        lam, Q = np.linalg.eigh(X)
        Vf = Q * np.sqrt(np.maximum(lam, 0.0))
        rng = np.random.default_rng(seed)
        R = rng.standard_normal((n, max(int(n_rounds), 1)))
        signs = np.where(Vf @ R >= 0.0, 1.0, -1.0)  # (n, rounds)
        cuts = 0.25 * np.einsum("ir,ij,jr->r", signs, Lap, signs)
        best = int(np.argmax(cuts))
        cut = float(cuts[best])
        return {
            "X": X,
            "objective": sdp_value,
            "cut_value": cut,
            "partition": signs[:, best],
            "bound_ratio": cut / sdp_value if sdp_value > 0 else math.nan,
        }

    return A, b, c, cones, recover


# --- generic SDP ----------------------------------------------------------------------------------
def sdp(C: Any, A_list: list[Any], b: Any) -> Template:
    r"""Standard-form SDP: ``min <C, X>`` s.t. ``<A_i, X> = b_i``, ``X >= 0``.

    Variables ``svec X``; cones ``z = len(A_list)``, one PSD cone of order ``n``. ``recover``
    returns ``{"X" (from the PSD block of ``s``, so exactly PSD; the equalities hold to the
    primal residual), "objective" (``<C, X>``), "y" (the multipliers of the equalities), "Z"
    (the dual slack ``C - sum y_i A_i``, from the PSD part of ``y``)}``.
    """
    Cd = _dense(C, "C")
    n = Cd.shape[0]
    if Cd.shape != (n, n):
        raise ValueError(f"C must be square, got shape {Cd.shape}")
    bv = _host(b).ravel()
    if len(A_list) != bv.size:
        raise ValueError(f"{len(A_list)} matrices A_i but {bv.size} entries in b")
    Cd = 0.5 * (Cd + Cd.T)
    N = n * (n + 1) // 2
    rows = []
    for k, Ai in enumerate(A_list):
        Ad = _dense(Ai, f"A_list[{k}]")
        if Ad.shape != (n, n):
            raise ValueError(f"A_list[{k}] must have shape {(n, n)}, got {Ad.shape}")
        rows.append(_svec(0.5 * (Ad + Ad.T)))
    Aeq = sp.csc_matrix(np.array(rows)) if rows else sp.csc_matrix((0, N))
    A = sp.vstack([Aeq, -sp.identity(N)], format="csc")
    bb = np.concatenate((bv, np.zeros(N)))
    c = _svec(Cd)
    cones = ConeSpec(z=len(A_list), s=(n,))
    neq = len(A_list)

    def recover(x: Any, y: Any, s: Any) -> dict[str, Any]:
        # X from the slack's PSD block: exactly PSD (the projection put it there), and equal to
        # smat(x) up to the primal residual
        X = _smat(_host(s)[neq:], n)
        yv = _host(y)
        return {
            "X": X,
            "objective": float(np.sum(Cd * X)),
            "y": -yv[:neq],
            "Z": _smat(yv[neq:], n),
        }

    return A, bb, c, cones, recover
