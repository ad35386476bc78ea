"""Compiled parts of the log-cone projection (numba): the closed-form cases, the KKT residuals,
the 2-D Newton method and the final point, each O(n) with scalar loops, so that the projection
costs little beside the ``eigh`` that precedes it (as numpy array calls, about ten per Newton
iteration, they cost more than the ``eigh`` itself at n <= 50). The method is described in
:func:`workers.solvers.conic.spectral.project_log_cone`.
"""

from __future__ import annotations

import math

import numpy as np

from workers.solvers.jit import jit as _jit

_LN2 = math.log(2.0)
_RHO_FLOOR = 1e-300  # keeps log(2 rho) finite if mu * v underflows


@_jit
def _sums(x0: np.ndarray, rho: float) -> tuple[float, float]:
    """The O(n) sums of the KKT system at ``rho = mu v``.

    With ``x_i(rho)`` the positive root of ``x^2 - x0_i x - rho = 0`` (the stationarity of
    ``x_i``), ``S = sum log x_i`` and ``A = sum 1 / (x_i^2 + rho)``. ``x_i`` is formed from
    ``d_i = sqrt(x0_i^2 + 4 rho) + |x0_i|`` as ``d / 2`` (``x0 >= 0``) or ``2 rho / d``
    (``x0 < 0``), free of cancellation either way; ``1 / (x^2 + rho) = 1 / (x r)`` with
    ``r = sqrt(x0^2 + 4 rho)``.
    """
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
def residuals(
    x0: np.ndarray, t0: float, v0: float, v: float, mu: float
) -> tuple[float, float, float, float, float]:
    r"""KKT residuals and the Hessian of the saddle function at ``(v, mu)``.

    The projection's Lagrangian, minimised over ``t`` and ``x``, is
    :math:`\Psi(v, \mu) = \tfrac12 (v - v_0)^2 - \tfrac12 \mu^2 - \mu t_0
    + \min_x [\tfrac12 \|x - x_0\|^2 - \mu v \sum_i \log(x_i / v)]`, convex in ``v`` and
    concave in ``mu``; the projection is its saddle point. Its gradient is

    * ``R2 = dPsi/dv = v - v0 + mu (n - L)``, ``L = S - n log v``,
    * ``R1 = dPsi/dmu = -v L - t0 - mu`` (the epigraph constraint, ``t = t0 + mu``),

    and its Hessian ``[[Hvv, Hvm], [Hvm, Hmm]]`` has ``Hvv >= 1`` and ``Hmm <= -1`` (``n - rho
    A = sum x^2 / (x^2 + rho) >= 0``), so it is never singular.
    """
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
    R1, R2, Hvv, Hmm, Hvm = residuals(x0, t0, v0, v, mu)
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
            nR1, nR2, nHvv, nHmm, nHvm = residuals(x0, t0, v0, vn, mun)
            if nR1 * nR1 + nR2 * nR2 <= (1.0 - 1e-4 * step) * merit or step < 1e-10:
                break
            step *= 0.5
        if vn == v and mun == mu:
            return v, mu, it + 1, merit <= kkt_tol * kkt_tol
        v, mu = vn, mun
        R1, R2, Hvv, Hmm, Hvm = nR1, nR2, nHvv, nHmm, nHvm
    return v, mu, max_iter, R1 * R1 + R2 * R2 <= kkt_tol * kkt_tol


# Where a point lies, as decided by :func:`classify`.
INSIDE = 0  # in the cone: its own projection
POLAR = 1  # its negative is in the dual cone: projects to 0
FACE = 2  # v0 <= 0 <= t0: projects to (t0, 0, max(x0, 0)) on the face v = 0
SOLVE = 3  # none of these: the KKT system must be solved

_EPS = float(np.finfo(np.float64).eps)


@_jit
def classify(t0: float, v0: float, x0: np.ndarray) -> int:
    """The closed-form cases of the log-cone projection (see ``spectral.project_log_cone``)."""
    n = x0.size
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        lo = min(lo, x0[i])
        hi = max(hi, x0[i])
    if v0 > 0.0 and lo > 0.0:
        s = 0.0
        for i in range(n):
            s += math.log(x0[i])
        if t0 >= -v0 * (s - n * math.log(v0)):
            return INSIDE
    elif v0 == 0.0 and t0 >= 0.0 and lo >= 0.0:
        return INSIDE
    # -(t0, v0, x0) in the dual cone {s > 0, z > 0, w >= -s sum log(z / s) - n s}
    if t0 < 0.0 and hi < 0.0:
        s = 0.0
        sabs = 0.0
        for i in range(n):
            lg = math.log(x0[i] / t0)
            s += lg
            sabs += abs(lg)
        # within the rounding of the bound (eigenvalues carry it too) the point is on the
        # polar's boundary, where the projection is 0: a Newton solve would only return noise
        slack = 8.0 * _EPS * (-t0 * (sabs + n) + abs(v0))
        if v0 <= -t0 * s - n * t0 + slack:
            return POLAR
    elif t0 == 0.0 and v0 <= 0.0 and hi <= 0.0:
        return POLAR
    if v0 <= 0.0 and t0 >= 0.0:
        return FACE
    return SOLVE


@_jit
def mu_bound(t0: float, v0: float, x0: np.ndarray) -> float:
    """An upper bound on ``mu = t - t0``: ``mu <= |p - z|``, at most the distance to any point
    of the cone, here the face point ``(max(t0, 0), 0, max(x0, 0))`` and, when ``v0, x0 > 0``,
    the point ``(g(v0, x0), v0, x0)`` with ``g`` the cone's boundary function."""
    n = x0.size
    sq = min(t0, 0.0) ** 2 + v0 * v0
    all_pos = v0 > 0.0
    s = 0.0
    for i in range(n):
        a = x0[i]
        if a < 0.0:
            sq += a * a
        if a > 0.0:
            if all_pos:
                s += math.log(a)
        else:
            all_pos = False
    bound = math.sqrt(sq)
    if all_pos:
        bound = min(bound, -v0 * (s - n * math.log(v0)) - t0)
    return bound


@_jit
def log_point(x0: np.ndarray, t0: float, v: float, mu: float) -> tuple[float, np.ndarray]:
    """The projection ``(t, x)`` for the multiplier ``mu`` and ``v > 0``.

    ``x_i`` is the positive root of ``x^2 - x0_i x - mu v = 0`` (cancellation-free, as in
    ``_sums``) and ``t = max(g(v, x), t0 + mu)``: equal at a KKT point; the larger keeps the
    point in the cone whichever is off, which matters where the exact ``x`` underflows (e.g.
    ``t0 >> 0`` and a negative ``x0_i``: ``x_i ~ v exp(-t0 / v)``, so ``g`` lags ``t0 + mu``).
    """
    n = x0.size
    rho = max(mu * v, _RHO_FLOOR)
    x = np.empty(n)
    s = 0.0
    for i in range(n):
        a = x0[i]
        d = math.sqrt(a * a + 4.0 * rho) + abs(a)
        xi = (2.0 * rho) / d if a < 0.0 else 0.5 * d
        x[i] = xi
        s += math.log(xi)
    g = -v * (s - n * math.log(v))
    return max(g, t0 + mu), x
