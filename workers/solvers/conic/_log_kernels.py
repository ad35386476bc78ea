"""Compiled inner loop of the log-cone projection (numba): the 2-D Newton method on its KKT
system, O(n) per iteration. The maths is documented in :mod:`.spectral`
(``_LogTerms``, ``_log_residuals``, ``project_log_cone``); this is the Newton method with the
O(n) sums as scalar loops, so that the projection costs little beside the ``eigh`` that
precedes it (in numpy, about ten array calls per iteration dominated at n <= 100).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, fastmath=False, nogil=True)

_LN2 = math.log(2.0)
_RHO_FLOOR = 1e-300  # keeps log(2 rho) finite if mu * v underflows


@_jit
def _sums(x0: np.ndarray, rho: float) -> tuple[float, float]:
    """``S = sum log x_i(rho)`` and ``A = sum 1 / (x_i^2 + rho)``, cancellation-free."""
    rho = max(rho, _RHO_FLOOR)
    S = 0.0
    A = 0.0
    log2rho = math.log(2.0 * rho)
    for i in range(x0.size):
        a = x0[i]
        r = math.sqrt(a * a + 4.0 * rho)
        d = r + abs(a)
        if a < 0.0:
            S += log2rho - math.log(d)  # x = 2 rho / d
            A += d / (2.0 * rho * r)
        else:
            S += math.log(d) - _LN2  # x = d / 2
            A += 2.0 / (d * r)
    return S, A


@_jit
def _residuals(
    x0: np.ndarray, t0: float, v0: float, v: float, mu: float
) -> tuple[float, float, float, float, float]:
    n = x0.size
    rho = mu * v
    S, A = _sums(x0, rho)
    L = S - n * math.log(v)
    R1 = -v * L - t0 - mu
    R2 = v - v0 + mu * (n - L)
    Hvv = 1.0 + (mu / v) * (n - rho * A)
    Hmm = -1.0 - v * v * A
    Hvm = n - L - rho * A
    return R1, R2, Hvv, Hmm, Hvm


@_jit
def log_newton(
    x0: np.ndarray,
    t0: float,
    v0: float,
    v: float,
    mu: float,
    max_iter: int,
    stop_tol: float,
    kkt_tol: float,
    step_cap: float,
) -> tuple[float, float, int, bool]:
    """Newton on the saddle system in ``(log v, log mu)`` with backtracking on ``R1^2 + R2^2``;
    returns ``(v, mu, iterations, kkt_ok)``."""
    R1, R2, Hvv, Hmm, Hvm = _residuals(x0, t0, v0, v, mu)
    for it in range(max_iter):
        merit = R1 * R1 + R2 * R2
        if merit <= stop_tol * stop_tol:
            return v, mu, it, True
        det = Hvv * Hmm - Hvm * Hvm
        dv = -(Hmm * R2 - Hvm * R1) / det
        dmu = -(Hvv * R1 - Hvm * R2) / det
        da = dv / v
        db = dmu / mu
        big = max(abs(da), abs(db))
        step = 1.0 if big <= step_cap else step_cap / big
        while True:
            vn = v * math.exp(step * da)
            mun = mu * math.exp(step * db)
            nR1, nR2, nHvv, nHmm, nHvm = _residuals(x0, t0, v0, vn, mun)
            if nR1 * nR1 + nR2 * nR2 <= (1.0 - 1e-4 * step) * merit or step < 1e-10:
                break
            step *= 0.5
        if vn == v and mun == mu:
            return v, mu, it + 1, merit <= kkt_tol * kkt_tol
        v, mu = vn, mun
        R1, R2, Hvv, Hmm, Hvm = nR1, nR2, nHvv, nHmm, nHvm
    return v, mu, max_iter, R1 * R1 + R2 * R2 <= kkt_tol * kkt_tol
