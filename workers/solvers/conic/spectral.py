r"""Spectral matrix cones: PSD, log-determinant, nuclear norm, sum of the k largest eigenvalues.

A cone of matrices whose membership depends only on the eigenvalues (or singular values) is
projected by one eigendecomposition (or SVD) followed by the projection of the *vector* of
eigenvalues onto the matching vector cone (Cederberg & Boyd, 2024):

.. math::

    P_{\mathcal K}(t, X) = \bigl(\hat t,\; Q \operatorname{diag}(\hat\lambda) Q^\top\bigr),
    \qquad (\hat t, \hat\lambda) = P_{\mathcal K_{\mathrm{vec}}}(t, \lambda(X)),
    \quad X = Q \operatorname{diag}(\lambda) Q^\top .

This module holds the vector projections (host numpy; an eigenvalue vector is small next to the
matrix it comes from, so a GPU caller moves only ``n`` numbers) and the matrix-cone wrappers whose
heavy steps (``eigh``/``svd``, the reconstruction) run in the array module of the input (numpy or
cupy). Each wrapper takes one cone's rows of the stacked vector, in SCS's row layout:

* PSD ``s``: ``svec X`` (length ``n (n + 1) / 2``, see :func:`svec`).
* log-determinant ``d``: ``(t, v, svec X)``, the closure of
  :math:`\{(t, v, X) : v > 0,\; X \succ 0,\; t \ge -v \log\det(X / v)\}`. This is the convention of
  SCS's spectral-cone code (its membership test and Newton method use
  :math:`t \ge -v \sum_i \log(x_i / v)`; the cone table of SCS's documentation prints the
  mirrored :math:`t \le v \log\det(X / v)`, which the code does not implement).
* nuclear norm ``nuc``: ``(t, vec X)`` with ``X`` of shape ``m x n`` (``m >= n``) stored column by
  column, :math:`\{(t, X) : \|X\|_* \le t\}`.
* ``ell1``: ``(t, x)``, :math:`\{(t, x) : \|x\|_1 \le t\}`.
* sum of the ``k`` largest eigenvalues ``sl``: ``(t, svec X)``,
  :math:`\{(t, X) : \sum_{i \le k} \lambda_i(X) \le t\}`.

Dual cones (projected elsewhere by Moreau, :math:`P_{\mathcal K^*}(z) = z + P_{\mathcal K}(-z)`):
log-det :math:`\mathcal K^* = \operatorname{cl}\{(s, w, Z) : s > 0,\; Z \succ 0,\;
w \ge -s \log\det(Z / s) - n s\}`; nuclear norm: the spectral-norm epigraph
:math:`\{(s, Z) : \|Z\|_2 \le s\}`; ell1: the ell-infinity epigraph; sum-largest:
:math:`\{(s, Z) : 0 \preceq -Z \preceq s I,\; \operatorname{tr}(-Z) = k s\}`.

References
----------
D. Cederberg and S. Boyd, "Projection onto spectral matrix cones", arXiv preprint (2024).
B. O'Donoghue, E. Chu, N. Parikh, S. Boyd, "Conic optimization via operator splitting and
homogeneous self-dual embedding", JOTA 169 (2016) (the ``svec`` convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import get_lapack_funcs

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.conic._ell1_kernels import ell1_epigraph
from workers.solvers.conic._log_kernels import (
    FACE,
    INSIDE,
    POLAR,
    classify,
    log_newton,
    log_point,
    mu_bound,
    residuals,
)
from workers.solvers.conic._sum_largest_kernels import sum_largest_sweep

__all__ = [
    "PSD_BATCH_MAX_N",
    "LogConeState",
    "NuclearConeState",
    "project_ell1_epigraph",
    "project_log_cone",
    "project_logdet_cone",
    "project_nuclear_cone",
    "project_psd_cone",
    "project_psd_cones",
    "project_sum_largest",
    "project_sum_largest_cone",
    "SumLargestConeState",
    "smat",
    "svec",
    "svec_size",
    "svec_order",
]

_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------------------------
# svec / smat
# --------------------------------------------------------------------------------------------


def svec_size(n: int) -> int:
    """Length ``n (n + 1) / 2`` of ``svec`` of an ``n x n`` matrix."""
    return n * (n + 1) // 2


def svec_order(length: int) -> int:
    """The ``n`` with ``n (n + 1) / 2 == length``; ``ValueError`` if there is none."""
    n = (math.isqrt(8 * length + 1) - 1) // 2
    if svec_size(n) != length:
        raise ValueError(f"{length} is not a triangular number n(n+1)/2")
    return n


@dataclass(frozen=True)
class _TriIndex:
    """Flat positions of the svec entries in an ``n x n`` row-major matrix (host or device)."""

    lower: Any  # (row i >= col j), svec order: column j, then i = j..n-1
    upper: Any  # the mirrored positions (j, i)
    scale: Any  # 1 on the diagonal, sqrt(2) off it
    inv_scale: Any


_TRI_CACHE: dict[tuple[int, str], _TriIndex] = {}


def _tri_index(n: int, xp: Any) -> _TriIndex:
    key = (n, xp.__name__)
    cached = _TRI_CACHE.get(key)
    if cached is not None:
        return cached
    # np.triu_indices lists (r, c), r <= c, row by row; read as (row c, col r) that is the lower
    # triangle column by column, exactly SCS's order.
    r, c = np.triu_indices(n)
    lower = c * n + r
    upper = r * n + c
    scale = np.where(r == c, 1.0, _SQRT2)
    entry = _TriIndex(
        lower=xp.asarray(lower),
        upper=xp.asarray(upper),
        scale=xp.asarray(scale),
        inv_scale=xp.asarray(1.0 / scale),
    )
    _TRI_CACHE[key] = entry
    return entry


def svec(X: Any) -> Any:
    r"""SCS's ``svec``: the lower triangle column by column, off-diagonals times :math:`\sqrt 2`.

    Parameters
    ----------
    X : array, shape (..., n, n)
        Symmetric matrices (only the lower triangle is read).

    Returns
    -------
    array, shape (..., n (n + 1) / 2)
        ``(X11, sqrt2 X21, ..., sqrt2 Xn1, X22, sqrt2 X32, ..., Xnn)``, so that
        ``svec(A) @ svec(B) == trace(A @ B)``.
    """
    xp = array_namespace(X)
    X = xp.asarray(X)
    n = X.shape[-1]
    if X.ndim < 2 or X.shape[-2] != n:
        raise ValueError(f"svec needs square matrices, got shape {X.shape}")
    idx = _tri_index(n, xp)
    flat = X.reshape(X.shape[:-2] + (n * n,))
    return flat[..., idx.lower] * idx.scale


def smat(v: Any) -> Any:
    """Inverse of :func:`svec`: the symmetric matrix (both triangles filled).

    Parameters
    ----------
    v : array, shape (..., n (n + 1) / 2)

    Returns
    -------
    array, shape (..., n, n)
    """
    return _smat(v, full=True)


def _smat(v: Any, *, full: bool) -> Any:
    """``smat``; with ``full=False`` only the lower triangle is filled (all ``eigh`` reads).

    svec order is LAPACK's packed lower-triangular storage, so on the host ``?tpttr`` unpacks
    it (several times faster than a fancy-index scatter at n = 400); the result is then
    Fortran-ordered, which ``eigh`` does not mind.
    """
    xp = array_namespace(v)
    v = xp.asarray(v)
    n = svec_order(v.shape[-1])
    idx = _tri_index(n, xp)
    batch = v.shape[:-1]
    vals = v * idx.inv_scale
    if xp is np and not full and v.ndim == 1 and n > 0 and vals.dtype.char in "fd":
        (tpttr,) = get_lapack_funcs(("tpttr",), (vals,))
        M, info = tpttr(n, vals, uplo="L")
        if info == 0:
            return M
    M = xp.zeros(batch + (n * n,), dtype=vals.dtype)
    M[..., idx.lower] = vals
    if full:
        M[..., idx.upper] = vals
    return M.reshape(batch + (n, n))


def _svec_sym(M: Any, n: int, xp: Any, out: Any = None) -> Any:
    """svec of matrices known to be symmetric (either triangle may be read), into ``out`` when
    given."""
    idx = _tri_index(n, xp)
    if xp is np and M.ndim == 2 and n > 0 and M.dtype.char in "fd":
        # ?trttp packs the lower triangle in svec order; M.T is a Fortran view of the same
        # (symmetric) matrix, so nothing is copied on the way in
        A = M.T if M.flags.c_contiguous else M
        (trttp,) = get_lapack_funcs(("trttp",), (A,))
        ap, info = trttp(A, uplo="L")
        if info == 0:
            return xp.multiply(ap, idx.scale, out=out)
    return xp.multiply(M.reshape(M.shape[:-2] + (n * n,))[..., idx.lower], idx.scale, out=out)


def _gram(B: Any) -> Any:
    """``B @ B.T`` (numpy hands the transpose-of-self product to BLAS syrk: half a gemm)."""
    return B @ B.T


# --------------------------------------------------------------------------------------------
# PSD cone
# --------------------------------------------------------------------------------------------

# Below this order the per-call overhead of the split reconstruction exceeds its savings, so
# equal-size PSD blocks are projected as one batched eigh and one batched product.
PSD_BATCH_MAX_N = 32


def _output(xp: Any, like: Any, out: Any) -> Any:
    """``out``, or a new array shaped like ``like`` (the matrix cones' results are written
    in place: a projection of a large block is not worth a second allocation and copy)."""
    return xp.empty_like(like) if out is None else out


def project_psd_cone(v: Any, out: Any = None) -> Any:
    """Project ``svec X`` onto the PSD cone: ``svec(Q max(Lambda, 0) Q^T)``, into ``out``
    (contiguous, not overlapping ``v``) when given.

    The reconstruction uses whichever of the positive or negative eigenvalues are fewer:
    ``X_+ = Q_+ Lambda_+ Q_+^T`` or ``X_+ = X + Q_- |Lambda_-| Q_-^T``, each a rank-``r`` syrk.
    """
    xp = array_namespace(v)
    n = svec_order(v.shape[-1])
    res = _output(xp, v, out)
    if n == 0:
        return res
    w, Q = xp.linalg.eigh(_smat(v, full=False))
    npos = int(xp.count_nonzero(w > 0))
    if npos == n:
        res[...] = v
    elif npos == 0:
        res[...] = 0.0
    elif npos <= n - npos:
        B = Q[:, n - npos :]
        B *= xp.sqrt(w[n - npos :])  # in place: Q is ours
        _svec_sym(_gram(B), n, xp, out=res)
    else:
        B = Q[:, : n - npos]
        B *= xp.sqrt(-w[: n - npos])
        xp.add(v, _svec_sym(_gram(B), n, xp), out=res)
    return res


def project_psd_cones(V: Any) -> Any:
    """Project a stack of ``svec`` vectors of equal order, shape ``(count, n(n+1)/2)``."""
    xp = array_namespace(V)
    n = svec_order(V.shape[-1])
    if n == 0:
        return xp.zeros_like(V)
    if n > PSD_BATCH_MAX_N:
        return xp.stack([project_psd_cone(V[i]) for i in range(V.shape[0])])
    w, Q = xp.linalg.eigh(_smat(V, full=False))
    P = (Q * xp.maximum(w, 0.0)[:, None, :]) @ xp.swapaxes(Q, -1, -2)
    return _svec_sym(P, n, xp)


# --------------------------------------------------------------------------------------------
# ell1 epigraph (and nuclear norm through it)
# --------------------------------------------------------------------------------------------


def project_ell1_epigraph(
    t0: float, x0: Any, *, sorted_abs: bool = False, out: Any = None
) -> tuple[float, Any]:
    r"""Project ``(t0, x0)`` onto :math:`\{(t, x) : \|x\|_1 \le t\}`.

    Outside the cone and its polar the projection is ``(t0 + lam, soft(x0, lam))`` with
    ``lam > 0`` the root of :math:`\sum_i (|x_i| - \lambda)_+ = t_0 + \lambda`. Sorting ``|x0|``
    makes the root a closed form on the right segment (the valid segments form a prefix); for
    unsorted input Michelot's active-set iteration finds the same root without the sort and
    the sort is the fallback.

    Parameters
    ----------
    t0 : float
    x0 : array, shape (n,)
        numpy or cupy.
    sorted_abs : bool
        ``x0`` is already non-negative and sorted in decreasing order (singular values), so the
        sort is skipped.
    out : array of shape (n,), optional
        Where to write ``x`` (a float64 view, e.g. the rows of a larger vector; it must not
        overlap ``x0``); a new array otherwise.

    Returns
    -------
    (t, x) : (float, array of shape (n,)) in the array module of ``x0``; ``x`` is ``out`` when
    given.
    """
    xp = array_namespace(x0)
    if int(x0.shape[0]) == 0:
        return max(t0, 0.0), xp.array(x0, copy=True) if out is None else out
    if xp is np:  # the same steps as below, compiled (:mod:`._ell1_kernels`)
        x = np.empty(x0.shape[0]) if out is None else out
        t = ell1_epigraph(float(t0), np.ascontiguousarray(x0, dtype=float), sorted_abs, x)
        return t, x
    t, x = _ell1_epigraph_xp(xp, t0, x0, sorted_abs)
    if out is None:
        return t, x
    out[...] = x
    return t, out


def _ell1_epigraph_xp(xp: Any, t0: float, x0: Any, sorted_abs: bool) -> tuple[float, Any]:
    """:func:`project_ell1_epigraph` in array-module calls (the GPU path), with few transfers."""
    a = x0 if sorted_abs else xp.abs(x0)
    n = int(a.shape[0])
    total, amax = (float(s) for s in xp.stack((xp.sum(a), xp.max(a))).tolist())
    if total <= t0:
        return t0, xp.array(x0, copy=True)
    if amax <= -t0:
        return 0.0, xp.zeros_like(x0)
    lam = None if sorted_abs else _ell1_threshold_michelot(xp, a, t0, total)
    if lam is None:
        s = a if sorted_abs else xp.sort(a)[::-1]
        lam_k = (xp.cumsum(s) - t0) / xp.arange(2, n + 2, dtype=s.dtype)
        # s[k] > lam_k holds exactly on a prefix k < k*; the last one gives the threshold.
        kstar = int(xp.count_nonzero(s > lam_k)) - 1
        lam = float(lam_k[max(kstar, 0)])
    if sorted_abs:
        return t0 + lam, xp.maximum(x0 - lam, 0.0)
    return t0 + lam, xp.sign(x0) * xp.maximum(a - lam, 0.0)


_MICHELOT_MAX_ITER = 64


def _ell1_threshold_michelot(xp: Any, a: Any, t0: float, total: float) -> float | None:
    """The threshold without sorting (Michelot, 1986): guess that every entry is active,
    ``lam = (sum_S a - t0) / (|S| + 1)``, drop the entries ``<= lam`` and repeat. ``S`` only
    shrinks and always contains the final active set, ``lam`` only grows to the root, and the
    loop stops when nothing is dropped. Typically a handful of passes over shrinking arrays,
    cheaper than a sort; ``None`` (use the sort) in the rare case it has not finished after
    ``_MICHELOT_MAX_ITER`` passes."""
    count = int(a.shape[0])
    lam = (total - t0) / (count + 1)
    for _ in range(_MICHELOT_MAX_ITER):
        a = a[a > lam]
        new_count = int(a.shape[0])
        if new_count == count:
            return lam
        count = new_count
        lam = (float(xp.sum(a)) - t0) / (count + 1)
    return None


# The Gram route squares the condition number. Forming Y Y^T and its eigh leave eigenvalue
# errors of about c * eps * lambda_max with c ~ m + n (1e-14 lambda_max at the sizes here), so a
# singular value sqrt(lambda) is good to c * eps * lambda_max / (2 lambda) relative. Above this
# ratio lambda_min / lambda_max (sigma_min / sigma_max >= 1e-2) that is at most ~5e-11, and so is
# the reconstruction's error relative to ||Y|| (the map from lambda to s / sigma has slope at most
# 1 / (2 sigma_min^2) where it is not zero); smaller ratios take the SVD.
_GRAM_MIN_RATIO = 1e-4
# After a refusal the SVD serves this many calls before the Gram route is tried again, doubling
# on each further refusal: a refused try costs an eigh on top of the SVD, and a solver's
# consecutive points have much the same conditioning.
_GRAM_RETRY, _GRAM_RETRY_MAX = 16, 1024


@dataclass
class NuclearConeState:
    """Route memory of one nuclear-norm cone across a solver's iterations (see
    :func:`project_nuclear_cone`); ``gram`` and ``svd`` count the calls each route served."""

    skip: int = 0
    backoff: int = _GRAM_RETRY
    gram: int = 0
    svd: int = 0

    def gram_singular(self, Y: Any, xp: Any) -> tuple[Any, Any] | None:
        """:func:`_gram_singular` unless the route is being skipped; counts the route taken."""
        out = None
        if self.skip > 0:
            self.skip -= 1
        else:
            out = _gram_singular(Y, xp)
            if out is None:
                self.skip, self.backoff = self.backoff, min(2 * self.backoff, _GRAM_RETRY_MAX)
            else:
                self.backoff = _GRAM_RETRY
        if out is None:
            self.svd += 1
        else:
            self.gram += 1
        return out


def project_nuclear_cone(
    v: Any, m: int, n: int, state: NuclearConeState | None = None, out: Any = None
) -> Any:
    """Project ``(t, vec X)``, ``X`` m x n column-major (``m >= n``), onto the nuclear-norm cone.

    With ``Y = X^T`` (the row-major view of the stored columns) ``= U diag(sigma) V^T``, the
    projection is ``U diag(s) V^T`` with ``(t, s)`` the ell1-epigraph projection of
    ``(t0, sigma)``: ``sigma >= 0`` and soft thresholding keeps it so, hence the ell1 epigraph
    restricted to the non-negative orthant is the same set of candidates, and ``sigma`` comes
    sorted from the SVD.

    With a ``state`` (a solver's repeated projections) a well-conditioned ``Y``
    (``sigma_min / sigma_max >= 1e-2``, common for the noisy points a splitting method
    projects) skips the SVD: ``eigh`` of the n x n Gram matrix ``Y Y^T = U diag(sigma^2) U^T``,
    and the result rebuilt without ``V`` as ``U diag(s / sigma) U^T Y``. At 30 x 60 (robust PCA,
    m = 60) the projection took 85 instead of 131 microseconds on the benchmark machine; on a GPU
    it trades cuSOLVER's SVD for its ``eigh`` (not measured here). The accuracy guard is
    ``_GRAM_MIN_RATIO``; whether to try the route is learnt per cone, since a refused try costs
    an ``eigh`` on top of the SVD. Without a state the SVD is used.

    The result goes to ``out`` (contiguous, not overlapping ``v``) when given; the rebuilt
    matrix is written there by the final product.
    """
    xp = array_namespace(v)
    if m < n:
        raise ValueError(f"nuclear cone needs m >= n, got {m} x {n}")
    t0 = float(v[0])
    Y = v[1:].reshape(n, m)
    rebuild: Callable[[int, Any, Any], None]
    gram = state.gram_singular(Y, xp) if state is not None and n > 0 else None
    if gram is not None:
        U, sig = gram

        def rebuild(r: int, s: Any, dest: Any) -> None:
            xp.matmul(U[:, :r] * (s[:r] / sig[:r]), U[:, :r].T @ Y, out=dest)

    else:
        U, sig, Vt = xp.linalg.svd(Y, full_matrices=False)

        def rebuild(r: int, s: Any, dest: Any) -> None:
            xp.matmul(U[:, :r] * s[:r], Vt[:r], out=dest)

    t, s = project_ell1_epigraph(t0, sig, sorted_abs=True)
    res = _output(xp, v, out)
    res[0] = t
    r = int(xp.count_nonzero(s > 0))
    if r == 0:
        res[1:] = 0.0
    elif t == t0 and r == n and bool(xp.all(s == sig)):
        res[1:] = v[1:]  # already inside: keep the input bit for bit
    else:
        rebuild(r, s, res[1:].reshape(n, m))  # a view: res is contiguous
    return res


def _gram_singular(Y: Any, xp: Any) -> tuple[Any, Any] | None:
    """``(U, sigma)``, decreasing, from ``eigh(Y Y^T)``; ``None`` when too ill-conditioned."""
    lam, U = xp.linalg.eigh(_gram(Y))
    lam_min, lam_max = (float(x) for x in lam[xp.asarray([0, -1])].tolist())
    if not (lam_max > 0.0 and lam_min >= _GRAM_MIN_RATIO * lam_max):
        return None
    return U[:, ::-1], xp.sqrt(lam[::-1])


# --------------------------------------------------------------------------------------------
# sum of the k largest entries / eigenvalues
# --------------------------------------------------------------------------------------------


def project_sum_largest(t0: float, lam: np.ndarray, k: int) -> tuple[float, np.ndarray, int]:
    r"""Project ``(t0, lam)`` onto :math:`\{(t, x) : \sum_{i \le k} x_{[i]} \le t\}`.

    ``lam`` must be sorted in decreasing order (host numpy). The projection keeps the order and
    has the form ``x = (lam_1 - mu, ..., lam_p - mu, theta, ..., theta, lam_{b+1}, ..., lam_n)``,
    ``t = t0 + mu``: the top ``p`` entries move down by the multiplier ``mu``, a tied group
    ``p < i <= b`` meets at ``theta`` (its subgradient weights ``(lam_i - theta) / mu`` lie in
    ``[0, 1]`` and sum to ``k - p``), the rest stay. For a given ``(p, b)`` the two conditions
    (weights sum to ``k``; the epigraph constraint is tight) are linear in ``(mu, theta)``:

    .. math::

        \mu = \frac{S_{\le p} + r S_{p<i\le b} / m - t_0}{1 + p + r^2 / m}, \quad
        \theta = \frac{S_{p<i\le b} - r \mu}{m}, \quad m = b - p,\; r = k - p .

    As ``mu`` grows the window ``[theta, theta + mu]`` only widens, so ``p`` only decreases and
    ``b`` only increases: a sweep that moves whichever end is reached first finds the active
    ``(p, b)`` in at most ``n`` O(1) steps (after an O(n) prefix sum).

    Returns
    -------
    (t, x, b) : float, ndarray, int
        ``b`` is the number of leading entries that changed (``x[b:] == lam[b:]``).
    """
    n = int(lam.shape[0])
    if not 1 <= k <= n:
        raise ValueError(f"sum-largest cone needs 1 <= k <= n, got k={k}, n={n}")
    out = _sum_largest_sweep(t0, lam, k, n)
    assert out is not None  # the whole vector is known
    return out


def _sum_largest_sweep(
    t0: float, lam: np.ndarray, k: int, n: int
) -> tuple[float, np.ndarray, int] | None:
    """:func:`project_sum_largest` from the ``r = len(lam) >= k`` largest of ``n`` entries:
    the sweep only reads ``lam[: b + 1]``, so it either finishes with ``b < r`` (the result is
    exact; ``x`` has length ``r``) or returns ``None`` when it would need ``lam[r]``."""
    t, x, b, ok = sum_largest_sweep(float(t0), np.ascontiguousarray(lam, dtype=float), k, n)
    return (t, x, b) if ok else None


# The top eigenpairs by LAPACK's ?syevr (tridiagonal reduction, then only the wanted vectors
# back-transformed) against the full eigh: measured on the benchmark machine (OpenBLAS, one
# thread) 0.42-0.48x of np.linalg.eigh's time for r <= n / 20, break-even near r = n / 6. So
# the partial route is taken while r <= n / 10; it pays from n ~ 200 at k = 10.
_SL_PARTIAL_MAX_FRACTION = 0.1


@dataclass
class SumLargestConeState:
    """Route memory of one sum-largest cone across a solver's iterations: ``changed`` is the
    ``b`` of the last projection (how many top eigenpairs moved), from which the next partial
    decomposition is sized; ``partial`` and ``full`` count the routes taken, ``retries`` the
    partial tries that needed more eigenpairs than they had."""

    changed: int = 0
    partial: int = 0
    full: int = 0
    retries: int = 0


def _partial_size(n: int, k: int, state: SumLargestConeState) -> int:
    """How many top eigenpairs to compute, or 0 for the full ``eigh``: twice ``k`` at first,
    then half as many again as the last projection changed."""
    want = max(2 * k, k + 8)
    if state.changed:
        want = max(want, state.changed + max(4, state.changed // 2))
    return want if want <= _SL_PARTIAL_MAX_FRACTION * n else 0


def _top_eigh(M: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``r`` largest eigenvalues (ascending) and their vectors of the symmetric ``M``
    (lower triangle read), or ``None`` if LAPACK reports a failure."""
    n = M.shape[0]
    (syevr,) = get_lapack_funcs(("syevr",), (M,))
    w, Z, found, _, info = syevr(M, compute_v=1, range="I", lower=1, il=n - r + 1, iu=n)
    if info != 0 or found != r:
        return None
    return w[:r], Z[:, :r]


def project_sum_largest_cone(
    v: Any, n: int, k: int, state: SumLargestConeState | None = None, out: Any = None
) -> Any:
    """Project ``(t, svec X)`` onto the sum-of-``k``-largest-eigenvalues epigraph.

    Only the ``b`` top eigenpairs change, and only downwards, so the result is the input minus
    ``svec(B B^T)`` with ``B = Q_b sqrt(lam_b - x_b)``: a rank-``b`` syrk instead of a full
    reconstruction. With a ``state`` (a solver's repeated projections) on the host, when a
    few top eigenpairs are expected to suffice (``r <= n / 10``, sized from the last ``b``),
    only those ``r`` are computed; if the projection turns out to need more (``b >= r``) the
    full ``eigh`` is done after all. Without a state the full ``eigh`` is used. The result
    goes to ``out`` (contiguous, not overlapping ``v``) when given.
    """
    xp = array_namespace(v)
    t0 = float(v[0])
    M = _smat(v[1:], full=False)
    res = None
    if xp is np and state is not None and (r := _partial_size(n, k, state)):
        top = _top_eigh(M, r)
        if top is not None:
            w, Q = top
            lam = w[::-1].copy()  # decreasing, the top ones first (as below)
            res = _sum_largest_sweep(t0, lam, k, n)
        if res is None:
            state.retries += 1
    if res is None:
        w, Q = xp.linalg.eigh(M)
        lam = to_numpy(w)[::-1].copy()  # decreasing
        res = _sum_largest_sweep(t0, lam, k, n)
        assert res is not None
        if state is not None:
            state.full += 1
    elif state is not None:
        state.partial += 1
    t, x, b = res
    if state is not None:
        state.changed = b
    res = _output(xp, v, out)
    res[0] = t
    if b == 0:
        res[1:] = v[1:]
        return res
    delta = xp.asarray(np.maximum(lam[:b] - x[:b], 0.0)[::-1].copy())  # ascending order, as Q
    B = Q[:, Q.shape[1] - b :] * xp.sqrt(delta)
    xp.subtract(v[1:], _svec_sym(_gram(B), n, xp), out=res[1:])
    return res


# --------------------------------------------------------------------------------------------
# log cone (vector) and log-determinant cone (matrix)
# --------------------------------------------------------------------------------------------

_LOG_NEWTON_MAX_ITER = 30
_LOG_STEP_CAP = 2.0  # largest step in log v or log mu per Newton iteration
_LOG_KKT_TOL = 1e-10  # on the input scaled to max-abs 1
_LOG_STOP_TOL = 1e-13
_LOG_FALLBACK_MAX_ITER = 200


@dataclass
class LogConeState:
    """Warm start for repeated log-cone projections of slowly changing points (``v``, ``mu``).

    ``v`` and ``mu`` are in the units of the projected point (not normalised); 0 means none.
    ``newton_iterations`` and ``fallbacks`` count work for diagnostics.
    """

    v: float = 0.0
    mu: float = 0.0
    newton_iterations: int = 0
    fallbacks: int = 0


def _bracketed_step(x: float, fx: float, dfx: float, lo: float, hi: float) -> float:
    """Newton step for a root of a monotone function inside ``(lo, hi)``, else a bisection.

    Bisection is geometric when both ends are positive and finite (the unknowns span many orders
    of magnitude); towards a missing end it shrinks by 1e3 or grows by 4.
    """
    if dfx != 0.0 and math.isfinite(dfx):
        xn = x - fx / dfx
        if lo < xn < hi:
            return xn
    if lo > 0.0 and math.isfinite(hi):
        return math.sqrt(lo * hi)
    if math.isfinite(hi):
        # below 1e-300 the unknown is zero for every purpose; returning x ends the search
        return (max(1e-3 * hi, 1e-300) if hi > 1e-300 else x) if lo <= 0.0 else 0.5 * (lo + hi)
    return 4.0 * max(lo, x)


def _log_inner_v(
    x0: np.ndarray, t0: float, v0: float, mu: float, v: float
) -> tuple[float, tuple[float, float, float, float, float]]:
    """For fixed ``mu``, the root ``v`` of the increasing function ``R2(., mu)`` (slope >= 1).

    When every ``x0 < 0`` the root may not exist: ``R2(0+, mu)`` is finite and, if it is already
    ``>= 0``, the minimiser over ``v >= 0`` is ``v = 0`` (``R1 = -t0 - mu`` there).
    """
    n = x0.size
    if bool(np.all(x0 < 0.0)):
        r20 = -v0 + mu * (n - float(np.sum(np.log(mu / -x0))))
        if r20 >= 0.0:
            return 0.0, (-t0 - mu, 0.0, 1.0, -1.0, 0.0)
    lo, hi = 0.0, math.inf
    if not v > 0.0:
        v = 1.0
    out = residuals(x0, t0, v0, v, mu)
    for _ in range(_LOG_FALLBACK_MAX_ITER):
        R2 = out[1]
        if R2 < 0.0:
            lo = v
        else:
            hi = v
        if abs(R2) <= 1e-15 * (1.0 + abs(v0) + v) or hi - lo <= 1e-15 * v:
            break
        vn = _bracketed_step(v, R2, out[2], lo, hi)
        if vn == v:
            break
        v = vn
        out = residuals(x0, t0, v0, v, mu)
    return v, out


def _log_nested(
    x0: np.ndarray, t0: float, v0: float, mu_max: float, v: float
) -> tuple[float, float]:
    """Safeguarded solve of the dual equation ``R1(v(mu), mu) = 0`` (decreasing in ``mu``).

    ``v(mu)`` minimises the convex ``Psi(., mu)``; by the envelope theorem the derivative of the
    concave dual function ``min_v Psi(v, mu)`` is ``R1`` and its slope is the Schur complement
    ``Hmm - Hvm^2 / Hvv <= -1``. Both levels are monotone root finds with brackets, so this
    converges from anywhere; it is the fallback when the 2-D Newton method fails its KKT check.
    """
    lo, hi = 0.0, mu_max
    mu = 0.5 * mu_max
    for _ in range(_LOG_FALLBACK_MAX_ITER):
        v, (R1, _R2, Hvv, Hmm, Hvm) = _log_inner_v(x0, t0, v0, mu, v)
        if R1 > 0.0:
            lo = mu
        else:
            hi = mu
        if abs(R1) <= 1e-15 * (1.0 + abs(t0) + mu) or hi - lo <= 1e-15 * hi:
            break
        slope = Hmm - Hvm * Hvm / Hvv
        mun = _bracketed_step(mu, R1, slope, lo, hi)
        if mun == mu:
            break
        mu = mun
    return v, mu


def project_log_cone(
    t0: float, v0: float, x0: np.ndarray, state: LogConeState | None = None
) -> tuple[float, float, np.ndarray]:
    r"""Project ``(t0, v0, x0)`` onto the log cone
    :math:`\operatorname{cl}\{(t, v, x) : v > 0,\, x > 0,\, t \ge -v \sum_i \log(x_i / v)\}`.

    Closed-form cases: the point is inside; its negative is in the dual cone (projection 0); ``v0 <=
    0 <= t0`` (projection ``(t0, 0, max(x0, 0))`` on the face ``v = 0``). Otherwise the projection
    is the saddle point of :math:`\Psi(v, \mu)` (see :func:`._log_kernels.residuals`), where ``mu =
    t - t0 > 0`` is the multiplier and ``x_i = (x0_i + sqrt(x0_i^2 + 4 mu v)) / 2``: Newton's method
    on the two KKT equations, each iteration O(n), from a warm start or a heuristic one. The
    unknowns are kept positive, and every point with ``v, mu > 0`` that solves the equations is
    *the* projection (the problem is convex, so KKT points are optimal; there is no other stationary
    point to be caught by). The Newton result is accepted only when its KKT residual is small (about
    1% of random cases are not, after 30 iterations); otherwise the nested solve
    :func:`_log_nested`, monotone and bracketed at both levels, takes over. The returned point is in
    the cone by construction: ``x`` comes from the formula above and ``t = max(-v sum log(x / v), t0
    + mu)`` (equal at a KKT point; the second matters when the exact ``x`` underflows).

    Parameters
    ----------
    t0, v0 : float
    x0 : ndarray, shape (n,)
        Host numpy, any order.
    state : LogConeState, optional
        Warm start in, solution out.

    Returns
    -------
    (t, v, x) : float, float, ndarray
    """
    x0 = np.ascontiguousarray(x0, dtype=float)
    case = classify(t0, v0, x0)
    if case == INSIDE:
        return t0, v0, x0.copy()
    if case == POLAR:
        return 0.0, 0.0, np.zeros_like(x0)
    if case == FACE:
        return t0, 0.0, np.maximum(x0, 0.0)
    scale = max(abs(t0), abs(v0), float(np.max(np.abs(x0))))
    t0s, v0s = t0 / scale, v0 / scale
    x0s = x0 / scale
    mu_max = mu_bound(t0s, v0s, x0s)
    if state is not None and state.v > 0.0 and state.mu > 0.0:
        v, mu = state.v / scale, state.mu / scale
    else:
        # measured on random spectra: starting low (a twentieth of the bound) converges in
        # about 11 iterations, about 1% go to the fallback
        mu = 0.05 * mu_max
        v = max(v0s, mu)
    v, mu, iters, ok = log_newton(
        x0s, t0s, v0s, v, mu, _LOG_NEWTON_MAX_ITER, _LOG_STOP_TOL, _LOG_KKT_TOL, _LOG_STEP_CAP
    )
    if state is not None:
        state.newton_iterations += iters
    if not ok:
        v, mu = _log_nested(x0s, t0s, v0s, mu_max, max(v0s, 0.5 * mu_max))
        if state is not None:
            state.fallbacks += 1
    if v > 0.0:
        t, x = log_point(x0s, t0s, v, mu)
    else:
        x, t = np.maximum(x0s, 0.0), t0s + mu
    if state is not None:
        state.v, state.mu = v * scale, mu * scale
    return t * scale, v * scale, x * scale


def project_logdet_cone(v: Any, n: int, state: LogConeState | None = None, out: Any = None) -> Any:
    """Project ``(t, v, svec X)`` onto the log-determinant cone (see the module docstring),
    into ``out`` (contiguous, not overlapping ``v``) when given."""
    xp = array_namespace(v)
    t0, v0 = (float(s) for s in v[:2].tolist())
    w, Q = xp.linalg.eigh(_smat(v[2:], full=False))
    lam = to_numpy(w)
    t, vv, x = project_log_cone(t0, v0, lam, state)
    res = _output(xp, v, out)
    res[0] = t
    res[1] = vv
    if t == t0 and vv == v0 and np.array_equal(x, lam):
        res[2:] = v[2:]  # inside the cone: keep the input bit for bit
    elif not np.any(x > 0.0):
        res[2:] = 0.0
    else:
        Q *= xp.asarray(np.sqrt(np.maximum(x, 0.0)))  # B = Q diag(sqrt x), in place
        _svec_sym(_gram(Q), n, xp, out=res[2:])
    return res
