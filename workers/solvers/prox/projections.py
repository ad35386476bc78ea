r"""Euclidean projections onto simple convex sets, and the breakpoint search behind them.

Every projection returns a new array of the input's array module (numpy or cupy) and never writes
into its input. The simplex, the :math:`\ell_1` ball and the group-sparse envelope all reduce to one
scalar equation: find :math:`\alpha` with

.. math::

    G(\alpha) = \sum_i \operatorname{clip}(c_i \alpha - d_i, 0, u_i) = t,
    \qquad c_i > 0, \; u_i \in (0, \infty],

a continuous, non-decreasing, piecewise-linear function with breakpoints :math:`d_i / c_i` and
:math:`(d_i + u_i) / c_i`. :func:`clip_sum_root` solves it either by sorting the breakpoints
(``method="sort"``, :math:`O(n \log n)`, vectorised, runs on the GPU) or by Kiwiel's randomised
breakpoint search (``method="linear"``, expected :math:`O(n)`, a numba kernel on the host). Both
finish with the same closed form on the final linear piece, so they agree to rounding.

References
----------
.. [1] K. C. Kiwiel, "Breakpoint searching algorithms for the continuous quadratic knapsack
   problem", Mathematical Programming 112:473-491, 2008.
.. [2] L. Condat, "Fast projection onto the simplex and the l1 ball", Mathematical Programming
   158:575-585, 2016 (survey of the sort-based and linear-time simplex projections).
.. [3] J. Duchi, S. Shalev-Shwartz, Y. Singer and T. Chandra, "Efficient projections onto the
   l1-ball for learning in high dimensions", ICML 2008.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.jit import jit as _jit

__all__ = [
    "Method",
    "clip_sum_root",
    "project_box",
    "project_halfspace",
    "project_hyperplane",
    "project_l1_ball",
    "project_l2_ball",
    "project_linf_ball",
    "project_psd",
    "project_simplex",
    "resolve_method",
]

Method = Literal["auto", "sort", "linear"]


def resolve_method(method: str, xp: Any) -> str:
    """``"sort"`` or ``"linear"`` for ``method``; ``"auto"`` picks the linear-time kernel on
    numpy when numba is available and the vectorised sort everywhere else (GPU included)."""
    if method == "auto":
        return "linear" if xp is np else "sort"
    if method not in ("sort", "linear"):
        raise ValueError(f"method must be 'auto', 'sort' or 'linear', got {method!r}")
    return method


# --------------------------------------------------------------------------------------------------
# The breakpoint search
# --------------------------------------------------------------------------------------------------


@_jit
def _clip_sum_root_kernel(
    c: np.ndarray, d: np.ndarray, u: np.ndarray, target: float
) -> float:  # pragma: no cover - compiled by numba; covered through clip_sum_root
    """Randomised breakpoint search (Kiwiel 2008) for ``sum clip(c a - d, 0, u) = target``.

    Keeps an open interval ``(lo, hi)`` known to contain the root and the items whose breakpoints
    lie strictly inside it ("undecided"). Items with both breakpoints outside are folded into three
    running sums, so that ``G(a) = slope * a - offset + saturated + sum(undecided items)`` on the
    interval. Each round evaluates ``G`` at a breakpoint of a random undecided item, halves the
    interval there and folds away the items that became decided; a random pivot discards a constant
    fraction of the breakpoints on average, hence expected linear time.
    """
    n = c.shape[0]
    idx = np.arange(n)
    m = n
    lo = -np.inf
    hi = np.inf
    slope = 0.0  # sum of c_i over items linear on (lo, hi)
    offset = 0.0  # sum of d_i over the same items
    saturated = 0.0  # sum of u_i over items at their cap on (lo, hi)
    state = np.uint64(88172645463325252)  # xorshift64: deterministic, independent of input order
    while m > 0:
        state ^= state << np.uint64(13)
        state ^= state >> np.uint64(7)
        state ^= state << np.uint64(17)
        j = idx[int(state % np.uint64(m))]
        start = d[j] / c[j]
        if lo < start < hi:
            pivot = start
        else:
            pivot = (d[j] + u[j]) / c[j]
        value = slope * pivot - offset + saturated
        for q in range(m):
            i = idx[q]
            v = c[i] * pivot - d[i]
            if v > 0.0:
                value += v if v < u[i] else u[i]
        if value == target:
            return pivot
        if value > target:
            hi = pivot
        else:
            lo = pivot
        kept = 0
        for q in range(m):
            i = idx[q]
            start = d[i] / c[i]
            end = (d[i] + u[i]) / c[i]
            if start >= hi:
                continue  # zero on (lo, hi)
            if end <= lo:
                saturated += u[i]
                continue
            if start <= lo and end >= hi:
                slope += c[i]
                offset += d[i]
                continue
            idx[kept] = i
            kept += 1
        m = kept
    if slope > 0.0:
        return (target + offset - saturated) / slope
    # G is flat (= target) on (lo, hi): every point of it is a root and gives the same clip values
    return hi if np.isfinite(hi) else lo


def _clip_sum_root_sort(xp: Any, c: Any, d: Any, u: Any, target: float) -> Any:
    """Sort-based solve of ``sum clip(c a - d, 0, u) = target``; a 0-d array of ``xp``.

    Each item adds slope ``c_i`` at ``d_i / c_i`` and removes it at ``(d_i + u_i) / c_i``, where
    its contribution freezes at ``u_i``. After sorting these events, cumulative sums give ``G`` at
    every breakpoint as ``slope_j * a_j - offset_j``; the root lies on the first piece where ``G``
    reaches ``target``.
    """
    starts = d / c
    finite = xp.isfinite(u)
    ends = (d[finite] + u[finite]) / c[finite]
    pos = xp.concatenate([starts, ends])
    dslope = xp.concatenate([c, -c[finite]])
    doffset = xp.concatenate([d, -(d[finite] + u[finite])])
    order = xp.argsort(pos, kind="stable") if xp is np else xp.argsort(pos)
    pos = pos[order]
    slope = xp.cumsum(dslope[order])
    offset = xp.cumsum(doffset[order])
    g = pos * slope - offset
    reached = g >= target
    if not bool(xp.any(reached)):
        # target above G at the last breakpoint: G keeps growing (an uncapped item) past it
        return (target + offset[-1]) / slope[-1]
    j = int(xp.argmax(reached))
    if j == 0:
        return pos[0]  # only when target <= 0 = G(first breakpoint); callers exclude it
    s = slope[j - 1]
    if float(s) <= 0.0:
        return pos[j - 1]
    return (target + offset[j - 1]) / s


def clip_sum_root(c: Any, d: Any, u: Any, target: float, method: Method = "auto") -> float:
    """Root ``a`` of ``sum_i clip(c_i a - d_i, 0, u_i) = target`` (see the module docstring).

    Parameters
    ----------
    c, d, u : arrays, shape (n,)
        Slopes (``> 0``), offsets and caps (``> 0``, ``inf`` allowed), numpy or cupy.
    target : float
        Must satisfy ``0 < target < sum(u)``, so that a root exists.
    method : {"auto", "sort", "linear"}
        See :func:`resolve_method`.

    Returns
    -------
    float
        A root (any one when ``G`` is flat at ``target``: they all give the same clipped values).
    """
    xp = array_namespace(c, d, u)
    if not bool(xp.all(xp.isfinite(c)) & xp.all(xp.isfinite(d))):
        return float("nan")  # NaN in, NaN out: a solver reports it; the search would not end
    if resolve_method(method, xp) == "linear":
        hc = np.ascontiguousarray(to_numpy(c), dtype=np.float64)
        hd = np.ascontiguousarray(to_numpy(d), dtype=np.float64)
        hu = np.ascontiguousarray(to_numpy(u), dtype=np.float64)
        return float(_clip_sum_root_kernel(hc, hd, hu, float(target)))
    return float(_clip_sum_root_sort(xp, c, d, u, float(target)))


# --------------------------------------------------------------------------------------------------
# Projections
# --------------------------------------------------------------------------------------------------


def _float_array(xp: Any, x: Any) -> Any:
    a = xp.asarray(x)
    if a.dtype.kind != "f":
        a = a.astype(xp.float64)
    return a


def project_simplex(x: Any, radius: float = 1.0, method: Method = "auto") -> Any:
    r"""Projection onto :math:`\{u \ge 0, \sum_i u_i = r\}` (all entries of ``x``, any shape).

    The projection is :math:`\max(x - \tau, 0)` with :math:`\tau` the root of
    :math:`\sum_i \max(x_i - \tau, 0) = r`; this is also ``sparsemax(x)`` for ``r = 1``.
    ``radius`` must be ``> 0``.
    """
    xp = array_namespace(x)
    x = _float_array(xp, x)
    if not radius > 0.0:
        raise ValueError(f"radius must be > 0, got {radius}")
    flat = x.reshape(-1)
    ones = xp.ones_like(flat)
    # sum max(x_i - tau, 0) = sum clip(1 * a - (-x_i), 0, inf) with a = -tau
    alpha = clip_sum_root(ones, -flat, xp.full_like(flat, xp.inf), radius, method)
    return xp.maximum(x + alpha, 0.0)


def project_l1_ball(x: Any, radius: float = 1.0, method: Method = "auto") -> Any:
    r"""Projection onto :math:`\{u : \lVert u \rVert_1 \le r\}`: ``x`` itself when inside, else
    :math:`\operatorname{sign}(x) \odot P_{\Delta_r}(|x|)` (Duchi et al. 2008)."""
    xp = array_namespace(x)
    x = _float_array(xp, x)
    if not radius >= 0.0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    a = xp.abs(x)
    if float(xp.sum(a)) <= radius:
        return x.copy()
    if radius == 0.0:
        return xp.zeros_like(x)
    return xp.sign(x) * project_simplex(a, radius, method)


def project_l2_ball(x: Any, radius: float = 1.0) -> Any:
    r"""Projection onto :math:`\{u : \lVert u \rVert_2 \le r\}` (Frobenius norm for matrices)."""
    xp = array_namespace(x)
    x = _float_array(xp, x)
    if not radius >= 0.0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    norm = float(xp.sqrt(xp.sum(x * x)))
    if norm <= radius:
        return x.copy()
    return x * (radius / norm)


def project_linf_ball(x: Any, radius: float = 1.0) -> Any:
    r"""Projection onto :math:`\{u : \lVert u \rVert_\infty \le r\}` (entrywise clip)."""
    xp = array_namespace(x)
    x = _float_array(xp, x)
    if not radius >= 0.0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return xp.clip(x, -radius, radius)


def project_box(x: Any, lower: Any, upper: Any) -> Any:
    """Projection onto ``{lower <= u <= upper}`` (bounds broadcast against ``x``; +-inf allowed)."""
    xp = array_namespace(x)
    x = _float_array(xp, x)
    return xp.minimum(xp.maximum(x, lower), upper)


def project_hyperplane(x: Any, a: Any, beta: float) -> Any:
    r"""Projection onto :math:`\{u : a^\top u = \beta\}`: :math:`x - (a^\top x - \beta) a /
    \lVert a \rVert^2` (``a`` non-zero, same shape as ``x``)."""
    xp = array_namespace(x, a)
    x = _float_array(xp, x)
    aa = float(xp.sum(a * a))
    return x - ((float(xp.sum(a * x)) - beta) / aa) * a


def project_halfspace(x: Any, a: Any, beta: float) -> Any:
    r"""Projection onto :math:`\{u : a^\top u \le \beta\}` (``x`` itself when inside)."""
    xp = array_namespace(x, a)
    x = _float_array(xp, x)
    excess = float(xp.sum(a * x)) - beta
    if excess <= 0.0:
        return x.copy()
    return x - (excess / float(xp.sum(a * a))) * a


def project_psd(x: Any) -> Any:
    r"""Projection of a square matrix onto the positive semidefinite cone (Frobenius norm).

    The symmetric matrices are orthogonal to the antisymmetric ones, so the projection of any
    square ``x`` is that of its symmetric part :math:`S = (x + x^\top)/2`:
    :math:`V \max(\Lambda, 0) V^\top` with :math:`S = V \Lambda V^\top`. The result is symmetrised
    once more so that it is exactly symmetric.
    """
    xp = array_namespace(x)
    x = _float_array(xp, x)
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {x.shape}")
    sym = 0.5 * (x + x.T)
    w, v = xp.linalg.eigh(sym)
    p = (v * xp.maximum(w, 0.0)) @ v.T
    return 0.5 * (p + p.T)
