"""Compiled host path of the ell1-epigraph projection (numba), the vector step of the nuclear
norm and ell1 cones: at the sizes of one cone block (tens to thousands of entries) a handful of
numpy calls cost more than the arithmetic. The method is described in
:func:`workers.solvers.conic.spectral.project_ell1_epigraph`; the array-module version there
serves the GPU.
"""

from __future__ import annotations

import math

import numpy as np

from workers.solvers.jit import jit as _jit
from workers.solvers.jit import jit_reduce as _jit_reduce

MICHELOT_MAX_ITER = 64


@_jit
def _threshold_sorted(s: np.ndarray, t0: float) -> float:
    """The root for ``s`` non-negative and decreasing: ``lam_k = (sum_{i <= k} s_i - t0) /
    (k + 2)``; ``s_k > lam_k`` holds exactly on a prefix, whose last index gives the root."""
    n = s.size
    cum = 0.0
    count = 0
    for k in range(n):
        cum += s[k]
        if s[k] > (cum - t0) / (k + 2):
            count += 1
    k = max(count - 1, 0)
    return (np.sum(s[: k + 1]) - t0) / (k + 2)


@_jit_reduce
def _active_sum(a: np.ndarray, lam: float) -> tuple[float, int]:
    """The sum and the number of the entries of ``a`` above ``lam`` (one branch-free pass)."""
    s = 0.0
    count = 0
    for i in range(a.size):
        v = a[i]
        keep = v > lam
        s += v if keep else 0.0
        count += 1 if keep else 0
    return s, count


@_jit
def _threshold_michelot(a: np.ndarray, t0: float, total: float) -> float:
    """Michelot's iteration on ``a = |x0|``: ``lam = (sum_S a - t0) / (|S| + 1)`` over the
    entries ``S`` above the previous ``lam``, from ``S`` = all, until ``S`` stops changing; NaN
    when it has not after ``MICHELOT_MAX_ITER`` passes. Each step is a Newton step on the
    decreasing, convex, piecewise-linear ``sum_i (a_i - lam)_+ - lam - t0``, so ``lam`` grows to
    the root; three or four passes on Gaussian data. The passes read the whole of ``a`` rather
    than a compacted copy of ``S``: a compaction's stores depend on one another, a full pass
    vectorises, and the full passes took a third of the time (2.5 against 7.1 microseconds a
    projection of 2,500 entries)."""
    count = a.size
    lam = (total - t0) / (count + 1)
    for _ in range(MICHELOT_MAX_ITER):
        s, kept = _active_sum(a, lam)
        if kept == count:
            return lam
        count = kept
        lam = (s - t0) / (count + 1)
    return np.nan


@_jit_reduce
def _abs_sum_max(x0: np.ndarray, a: np.ndarray) -> tuple[float, float]:
    """``a = |x0|``, and its sum and maximum (one vectorised pass)."""
    total = 0.0
    amax = 0.0
    for i in range(x0.size):
        v = abs(x0[i])
        a[i] = v
        total += v
        amax = max(amax, v)
    return total, amax


@_jit
def ell1_epigraph(t0: float, x0: np.ndarray, sorted_abs: bool, x: np.ndarray) -> float:
    """The projection of ``(t0, x0)`` onto ``{||x||_1 <= t}``: returns ``t`` and writes ``x``
    (same length as ``x0``, not overlapping it); with ``sorted_abs`` the entries of ``x0`` are
    non-negative and decreasing (singular values)."""
    n = x0.size
    # x is the scratch of |x0| until the threshold is known (no allocation: a fresh buffer of a
    # large cone costs its page faults, more than the projection's arithmetic)
    total, amax = _abs_sum_max(x0, x)
    if total <= t0:
        x[:] = x0
        return t0
    if amax <= -t0:
        x[:] = 0.0
        return 0.0
    if sorted_abs:
        lam = _threshold_sorted(x0, t0)
    else:
        lam = _threshold_michelot(x, t0, total)
        if np.isnan(lam):
            lam = _threshold_sorted(np.sort(np.abs(x0))[::-1].copy(), t0)
    for i in range(n):  # soft threshold, branch-free: copysign(max(|x0| - lam, 0), x0)
        x[i] = math.copysign(max(abs(x0[i]) - lam, 0.0), x0[i])
    return t0 + lam
