"""Numba kernels of :mod:`workers.solvers.prox.cd` (inner solves on a working set).

Conventions shared by every kernel:

* ``AT`` is the *transposed* design, C-ordered with shape ``(n, m)``, so that column ``j`` of
  ``A`` is the contiguous row ``AT[j]`` (a Fortran-ordered ``A`` gives this layout for free).
  Dot products go through :func:`_dot`, a loop compiled with reassociation so that it
  vectorises (as BLAS ``ddot`` does); at the lengths of a working-set epoch (a few hundred) it
  is 2-3x faster than ``np.dot``, whose BLAS call costs more than the arithmetic. Updates are
  plain loops.
* Iterates and residuals are updated in place; the caller owns the buffers (copies, never the
  caller's arrays).
* Everything is deterministic on a given machine: cyclic order, no random draws, and no
  ``fastmath`` outside :func:`_dot` (whose summation order is fixed by the compiled vector
  width, like that of the BLAS ``ddot`` it replaces).

Three inner solvers (``quad_inner``, ``group_inner``, ``logreg_inner``), the sign-pattern Newton
polish (``polish_l1``) and two products with a subset of the columns are the only entry points,
to keep the first-call compile time of a worker small; the small helpers are compiled into them.
"""

from __future__ import annotations

import math

import numpy as np

from workers.solvers.jit import jit as _jit
from workers.solvers.jit import jit_reduce as _jit_reduce

__all__ = [
    "PEN_L1",
    "PEN_MCP",
    "PEN_SCAD",
    "group_inner",
    "logreg_inner",
    "polish_l1",
    "quad_inner",
    "rows_dot",
    "rows_combination",
]

PEN_L1 = 0  # weighted l1 (+ 0.5 * l2 * x^2): lasso, elastic net
PEN_MCP = 1
PEN_SCAD = 2

# Return codes of the inner kernels.
INNER_TARGET = 0  # the inner criterion met its target
INNER_MAX_EPOCHS = 1  # epoch budget of this call spent
INNER_STABLE = 2  # support and signs unchanged over `stable_checks` checks: caller may polish


_GRAM_MAX_EPOCHS = 500  # epochs on the Gram-space Newton model (each costs |ws|^2)
_GRAM_CD_TOL = 1e-14  # ... until no coordinate moves by more than 1e-7 of the direction


@_jit_reduce
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a^T b`` of two 1-D arrays of equal length."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


# --------------------------------------------------------------------------------------------------
# products with a subset of the columns (no gathered copy of A)
# --------------------------------------------------------------------------------------------------
@_jit
def rows_dot(AT: np.ndarray, idx: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """``out[k] = a_{idx[k]}^T v``: ``A[:, idx]^T v`` without copying the columns."""
    for k in range(idx.shape[0]):
        out[k] = _dot(AT[idx[k]], v)


@_jit
def rows_combination(AT: np.ndarray, idx: np.ndarray, coef: np.ndarray, out: np.ndarray) -> None:
    """``out = sum_k coef[k] a_{idx[k]}``: ``A[:, idx] @ coef`` without copying the columns."""
    out[:] = 0.0
    for k in range(idx.shape[0]):
        c = coef[k]
        if c != 0.0:
            a = AT[idx[k]]
            for i in range(out.shape[0]):
                out[i] += c * a[i]


# --------------------------------------------------------------------------------------------------
# scalar penalties
# --------------------------------------------------------------------------------------------------
@_jit
def _pen_value(v: float, lam: float, gamma: float, pen: int) -> float:
    a = abs(v)
    if pen == PEN_L1:
        return lam * a
    if pen == PEN_MCP:
        if a <= gamma * lam:
            return lam * a - 0.5 * a * a / gamma
        return 0.5 * gamma * lam * lam
    # SCAD
    if a <= lam:
        return lam * a
    if a <= gamma * lam:
        return (2.0 * gamma * lam * a - a * a - lam * lam) / (2.0 * (gamma - 1.0))
    return 0.5 * lam * lam * (gamma + 1.0)


@_jit
def _nonconvex_1d(v: float, L: float, lam: float, gamma: float, pen: int) -> float:
    """Exact minimiser of ``L/2 (u - v)^2 + pen(u)`` for MCP / SCAD (any ``gamma``, ``L > 0``).

    The penalty is piecewise quadratic in ``|u|``; the minimiser has the sign of ``v`` and is one
    of the stationary points of the pieces (clipped to their piece) or a breakpoint, so we
    compare the objective at those few candidates. Ties keep the smaller magnitude.
    """
    a = abs(v)
    best_u = 0.0
    best_f = 0.5 * L * a * a
    # candidates collected in a small fixed array
    cand = np.empty(5)
    nc = 0
    if pen == PEN_MCP:
        gl = gamma * lam
        if L > 1.0 / gamma:
            u = (L * a - lam) / (L - 1.0 / gamma)
            cand[nc] = min(max(u, 0.0), gl)
            nc += 1
        else:
            cand[nc] = gl
            nc += 1
        cand[nc] = max(a, gl)
        nc += 1
    else:
        gl = gamma * lam
        cand[nc] = min(max(a - lam / L, 0.0), lam)
        nc += 1
        k = 1.0 / (gamma - 1.0)
        if L > k:
            u = (L * a - gl * k) / (L - k)
            cand[nc] = min(max(u, lam), gl)
            nc += 1
        else:
            cand[nc] = lam
            nc += 1
            cand[nc] = gl
            nc += 1
        cand[nc] = max(a, gl)
        nc += 1
    for i in range(nc):
        u = cand[i]
        f = 0.5 * L * (u - a) * (u - a) + _pen_value(u, lam, gamma, pen)
        if f < best_f:
            best_f = f
            best_u = u
    return best_u if v >= 0.0 else -best_u


@_jit
def _subdiff_dist(c: float, xj: float, lamw: float, l2: float, gamma: float, pen: int) -> float:
    """Distance of ``c = -grad_j f`` to the (Clarke) subdifferential of the penalty at ``xj``."""
    if xj == 0.0:
        return max(abs(c) - lamw, 0.0)
    s = 1.0 if xj > 0.0 else -1.0
    a = abs(xj)
    if pen == PEN_L1:
        return abs(c - lamw * s - l2 * xj)
    if pen == PEN_MCP:
        d = max(lamw - a / gamma, 0.0)
        return abs(c - s * d)
    if a <= lamw:
        d = lamw
    elif a <= gamma * lamw:
        d = (gamma * lamw - a) / (gamma - 1.0)
    else:
        d = 0.0
    return abs(c - s * d)


# --------------------------------------------------------------------------------------------------
# Anderson extrapolation
# --------------------------------------------------------------------------------------------------
@_jit
def _anderson_weights(hist: np.ndarray, coef: np.ndarray) -> bool:
    """Weights ``c`` (sum 1) minimising ``||sum_k c_k (x_{k+1} - x_k)||`` over the history rows.

    ``hist`` holds ``K + 1`` iterates (rows); ``coef`` receives ``K`` weights for rows ``1..K``.
    Solves ``(U U^T) z = 1`` by Gaussian elimination with partial pivoting and normalises
    ``c = z / sum(z)``; returns ``False`` (no extrapolation) when the system is numerically
    singular, e.g. when the iterates have stopped moving.
    """
    K = hist.shape[0] - 1
    p = hist.shape[1]
    M = np.zeros((K, K + 1))
    for a in range(K):
        for bb in range(a, K):
            s = 0.0
            for i in range(p):
                s += (hist[a + 1, i] - hist[a, i]) * (hist[bb + 1, i] - hist[bb, i])
            M[a, bb] = s
            M[bb, a] = s
        M[a, K] = 1.0
    scale = 0.0
    for a in range(K):
        scale = max(scale, M[a, a])
    if not scale > 0.0:
        return False
    for col in range(K):
        piv = col
        for row in range(col + 1, K):
            if abs(M[row, col]) > abs(M[piv, col]):
                piv = row
        if abs(M[piv, col]) <= 1e-14 * scale:
            return False
        if piv != col:
            for cc in range(K + 1):
                tmp = M[col, cc]
                M[col, cc] = M[piv, cc]
                M[piv, cc] = tmp
        for row in range(col + 1, K):
            f = M[row, col] / M[col, col]
            if f != 0.0:
                for cc in range(col, K + 1):
                    M[row, cc] -= f * M[col, cc]
    total = 0.0
    for row in range(K - 1, -1, -1):
        s = M[row, K]
        for cc in range(row + 1, K):
            s -= M[row, cc] * coef[cc]
        coef[row] = s / M[row, row]
        total += coef[row]
    if not (math.isfinite(total) and total != 0.0):
        return False
    for a in range(K):
        coef[a] /= total
    return True


@_jit
def _combine(hist: np.ndarray, coef: np.ndarray, out: np.ndarray) -> None:
    K = coef.shape[0]
    for i in range(out.shape[0]):
        s = 0.0
        for k in range(K):
            s += coef[k] * hist[k + 1, i]
        out[i] = s


# --------------------------------------------------------------------------------------------------
# quadratic data fit, separable penalty
# --------------------------------------------------------------------------------------------------
@_jit
def _quad_objective(
    x: np.ndarray,
    r: np.ndarray,
    ws: np.ndarray,
    lamw: np.ndarray,
    l2: float,
    gamma: float,
    pen: int,
) -> float:
    """``0.5 ||r||^2 + sum_{j in ws} pen_j(x_j)``; coordinates outside ``ws`` are fixed."""
    val = 0.5 * _dot(r, r)
    for j in ws:
        val += _pen_value(x[j], lamw[j], gamma, pen) + 0.5 * l2 * x[j] * x[j]
    return val


@_jit
def _quad_criterion(
    AT: np.ndarray,
    x: np.ndarray,
    r: np.ndarray,
    ws: np.ndarray,
    lamw: np.ndarray,
    l2: float,
    gamma: float,
    pen: int,
) -> float:
    """Inner stopping measure on the working-set subproblem.

    l1 (+ l2): duality gap of the subproblem restricted to ``ws`` (dual point by residual
    rescaling; with ``l2 > 0`` also the unscaled residual, whichever is tighter). MCP / SCAD: the
    largest subdifferential distance over ``ws``.
    """
    if pen != PEN_L1:
        worst = 0.0
        for j in ws:
            c = _dot(AT[j], r)
            worst = max(worst, _subdiff_dist(c, x[j], lamw[j], l2, gamma, pen))
        return worst
    rr = _dot(r, r)
    pen_val = 0.0
    xc = 0.0
    ratio = 0.0
    excess = 0.0
    for j in ws:
        c = _dot(AT[j], r)
        xj = x[j]
        pen_val += lamw[j] * abs(xj) + 0.5 * l2 * xj * xj
        xc += xj * c
        if lamw[j] > 0.0:
            ratio = max(ratio, abs(c) / lamw[j])
        over = abs(c) - lamw[j]
        if over > 0.0:
            excess += over * over
    s = max(1.0, ratio)
    gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen_val - xc / s
    if l2 > 0.0:
        gap = min(gap, pen_val - xc + 0.5 * excess / l2)
    return max(gap, 0.0)


@_jit
def _sign_pattern(x: np.ndarray, ws: np.ndarray, out: np.ndarray) -> bool:
    """Write the signs of ``x[ws]`` into ``out``; ``True`` when they were already there."""
    same = True
    for k in range(ws.shape[0]):
        v = x[ws[k]]
        s = 1 if v > 0.0 else (-1 if v < 0.0 else 0)
        if out[k] != s:
            same = False
            out[k] = s
    return same


@_jit
def quad_inner(
    AT: np.ndarray,
    x: np.ndarray,
    r: np.ndarray,
    ws: np.ndarray,
    norms2: np.ndarray,
    lamw: np.ndarray,
    l2: float,
    gamma: float,
    pen: int,
    target: float,
    max_epochs: int,
    check_every: int,
    anderson_k: int,
    stable_checks: int,
) -> tuple[int, float, int, int]:
    """Cyclic coordinate descent on ``0.5 ||b - A x||^2 + sum_j pen_j(x_j)`` over ``ws``.

    ``r = b - A x`` is kept up to date. Each coordinate step minimises the objective exactly in
    that coordinate (``norms2[j] = ||a_j||^2`` is the exact curvature). Every ``anderson_k``
    epochs the last iterates are extrapolated (Anderson) and the extrapolation is kept only if
    it lowers the objective. Every ``check_every`` epochs the criterion of
    :func:`_quad_criterion` is compared with ``target``.

    Returns ``(epochs, criterion, code, accepted_extrapolations)`` with ``code`` one of
    ``INNER_TARGET``, ``INNER_MAX_EPOCHS``, ``INNER_STABLE``.
    """
    p = ws.shape[0]
    m = r.shape[0]
    K = anderson_k
    hx = np.empty((K + 1, p))
    hr = np.empty((K + 1, m))
    coef = np.empty(max(K, 1))
    xa = np.empty(p)
    ra = np.empty(m)
    n_hist = 0
    accepted = 0
    signs = np.zeros(p, dtype=np.int8)
    _sign_pattern(x, ws, signs)
    stable = 0
    crit = np.inf
    for epoch in range(1, max_epochs + 1):
        for j in ws:
            L = norms2[j]
            if L == 0.0:
                continue
            a = AT[j]
            old = x[j]
            c = _dot(a, r)
            if pen == PEN_L1:
                z = L * old + c
                t = lamw[j]
                if z > t:
                    new = (z - t) / (L + l2)
                elif z < -t:
                    new = (z + t) / (L + l2)
                else:
                    new = 0.0
            else:
                new = _nonconvex_1d(old + c / L, L, lamw[j], gamma, pen)
            if new != old:
                d = new - old
                for i in range(m):
                    r[i] -= d * a[i]
                x[j] = new
        if K > 0:
            for k in range(p):
                hx[n_hist, k] = x[ws[k]]
            hr[n_hist, :] = r
            n_hist += 1
            if n_hist == K + 1:
                n_hist = 0
                if _anderson_weights(hx, coef):
                    _combine(hx, coef, xa)
                    _combine(hr, coef, ra)
                    f_cur = _quad_objective(x, r, ws, lamw, l2, gamma, pen)
                    # evaluate the extrapolated point by swapping it in
                    for k in range(p):
                        tmp = x[ws[k]]
                        x[ws[k]] = xa[k]
                        xa[k] = tmp
                    f_acc = _quad_objective(x, ra, ws, lamw, l2, gamma, pen)
                    if f_acc < f_cur:
                        r[:] = ra
                        accepted += 1
                    else:
                        for k in range(p):
                            x[ws[k]] = xa[k]
        if epoch % check_every == 0:
            crit = _quad_criterion(AT, x, r, ws, lamw, l2, gamma, pen)
            if crit <= target:
                return epoch, crit, INNER_TARGET, accepted
            if stable_checks > 0:
                if _sign_pattern(x, ws, signs):
                    stable += 1
                    if stable >= stable_checks:
                        return epoch, crit, INNER_STABLE, accepted
                else:
                    stable = 0
    return max_epochs, crit, INNER_MAX_EPOCHS, accepted


# --------------------------------------------------------------------------------------------------
# l1 (+ l2): Newton steps on the sign pattern, in the space of the support
# --------------------------------------------------------------------------------------------------
@_jit
def _chol_delete(U: np.ndarray, k: int, n: int) -> None:
    """Remove row and column ``k`` from the upper Cholesky factor ``U[:n, :n]`` (``G = U^T U``).

    Deleting row ``k`` of ``U`` leaves the trailing block to be the factor of
    ``U33^T U33 + v v^T`` with ``v = U[k, k+1:n]`` (a rank-one *update*, hence stable), done
    with Givens-like rotations along rows (contiguous). The result is in ``U[:n-1, :n-1]``.
    """
    v = U[k, k + 1 : n].copy()
    p = n - 1 - k
    for i in range(p):
        ii = k + 1 + i
        uii = U[ii, ii]
        rr = math.sqrt(uii * uii + v[i] * v[i])
        cs = rr / uii
        sn = v[i] / uii
        U[ii, ii] = rr
        for j in range(i + 1, p):
            jj = k + 1 + j
            U[ii, jj] = (U[ii, jj] + sn * v[j]) / cs
            v[j] = cs * v[j] - sn * U[ii, jj]
    for i in range(n):  # drop column k
        for j in range(k, n - 1):
            U[i, j] = U[i, j + 1]
    for i in range(k, n - 1):  # drop row k
        for j in range(n - 1):
            U[i, j] = U[i + 1, j]


@_jit
def polish_l1(
    G: np.ndarray,
    U: np.ndarray,
    c: np.ndarray,
    xs: np.ndarray,
    lw: np.ndarray,
    l2: float,
    max_steps: int,
) -> tuple[int, bool]:
    """Newton steps with exact line search on ``0.5 ||A_S u - b||^2 + sum lw |u| + l2/2 ||u||^2``.

    Works in the space of the support ``S`` only: ``G = A_S^T A_S``, ``c = A_S^T r`` at
    ``u = xs`` (all nonzero), ``U`` the upper Cholesky factor of ``G + (l2 + ridge) I``
    (overwritten; a C-ordered copy). Each step takes the Newton direction ``d`` of the quadratic
    that agrees with the objective on the current sign pattern (``U^T U d = -grad``; the
    ``ridge`` only keeps the factorisation defined), moves to the exact minimiser of the true,
    convex piecewise-quadratic objective along ``d`` (kinks where coordinates cross zero), sets
    the coordinates that stop at a kink to zero and drops them (Cholesky delete), and repeats.
    The objective decreases at every step. ``xs`` is updated in place (dropped coordinates are
    0). Returns ``(steps, converged)``: converged when a full step kept every sign, i.e. ``xs``
    minimises the objective over its sign pattern.
    """
    n = xs.shape[0]
    Gk = G.copy()
    x = xs.copy()
    cc = c.copy()
    lwk = lw.copy()
    pos = np.arange(n)
    k = n
    d = np.empty(n)
    Gd = np.empty(n)
    tk = np.empty(n)
    tw = np.empty(n)
    keep = np.empty(n, dtype=np.int64)
    steps = 0
    converged = False
    while steps < max_steps and k > 0:
        steps += 1
        # d = -(U^T U)^{-1} grad, both triangular solves reading rows of U
        for i in range(k):
            sgn = 1.0 if x[i] > 0.0 else -1.0
            d[i] = cc[i] - lwk[i] * sgn - l2 * x[i]
        for j in range(k):
            d[j] /= U[j, j]
            dj = d[j]
            for i in range(j + 1, k):
                d[i] -= U[j, i] * dj
        for i in range(k - 1, -1, -1):
            d[i] = (d[i] - _dot(U[i, i + 1 : k], d[i + 1 : k])) / U[i, i]
        slope = 0.0
        curv = 0.0
        gsum = 0.0
        for i in range(k):
            Gd[i] = _dot(Gk[i, :k], d[:k])
            slope += (-cc[i] + l2 * x[i]) * d[i]
            curv += d[i] * Gd[i] + l2 * d[i] * d[i]
            gsum += lwk[i] * d[i] * (1.0 if x[i] > 0.0 else -1.0)
            tk[i] = -x[i] / d[i] if x[i] * d[i] < 0.0 else np.inf
        if not slope + gsum < 0.0:
            break  # no descent left at this precision
        # Rounding can make the curvature of a (near) null-space direction slightly negative.
        curv = max(curv, 0.0)
        # exact minimiser of slope t + curv t^2 / 2 + sum lw |x + t d| over t >= 0: scan the
        # kinks in order; the right derivative jumps up by 2 lw_j |d_j| at each
        for i in range(k):
            tw[i] = tk[i]
        deriv = slope + gsum
        t_kink = -1.0
        lo = 0.0
        while True:
            # next kink by a linear scan: few are passed before the minimiser is found
            j = -1
            tb = np.inf
            for i in range(k):
                if tw[i] < tb:
                    tb = tw[i]
                    j = i
            if j < 0 or (curv > 0.0 and -deriv / curv <= tb):
                break
            tw[j] = np.inf
            deriv += 2.0 * lwk[j] * abs(d[j])
            if deriv + curv * tb >= 0.0:
                t_kink = tb
                break
            lo = tb
        if t_kink >= 0.0:
            t = t_kink
        elif curv > 0.0:
            t = max(-deriv / curv, lo)
        else:
            break  # unbounded along d at this precision: give up
        for i in range(k):
            x[i] += t * d[i]
            cc[i] -= t * Gd[i]
            if t_kink >= 0.0 and tk[i] == t_kink:
                x[i] = 0.0
        # drop the zeros: factor first (from the last index down, so that the lower indices
        # stay valid), then everything else in one compaction
        size = k
        for i in range(k - 1, -1, -1):
            if x[i] == 0.0:
                _chol_delete(U, i, size)
                size -= 1
        kept = 0
        for i in range(k):
            if x[i] != 0.0:
                keep[kept] = i
                kept += 1
        if kept < k:
            for a in range(kept):
                ia = keep[a]
                x[a] = x[ia]
                cc[a] = cc[ia]
                lwk[a] = lwk[ia]
                pos[a] = pos[ia]
                for bb in range(kept):
                    Gk[a, bb] = Gk[ia, keep[bb]]
        dropped = k - kept
        k = kept
        if dropped == 0 and t >= 1.0 - 1e-12:
            converged = True
            break
    for i in range(n):
        xs[i] = 0.0
    for i in range(k):
        xs[pos[i]] = x[i]
    return steps, converged


# --------------------------------------------------------------------------------------------------
# group lasso: exact block coordinate descent
# --------------------------------------------------------------------------------------------------
@_jit
def _group_block_min(
    evals: np.ndarray, V: np.ndarray, size: int, qt: np.ndarray, t: float, out: np.ndarray
) -> None:
    """Exact minimiser of ``0.5 u^T G u - q^T u + t ||u||`` with ``G = V diag(evals) V^T``.

    ``qt = V^T q`` is given in the eigenbasis (and overwritten). ``u = 0`` when
    ``||q|| <= t``; otherwise ``u = (G + mu I)^{-1} q`` with ``mu > 0`` the root of
    ``mu ||u(mu)|| = t``, found by safeguarded Newton on ``phi(mu) = 1/||u(mu)|| - mu/t``, which
    is nearly linear in ``mu`` (exactly so when ``G`` is a multiple of the identity) and bracketed
    by ``t * [min(evals), max(evals)] / (||q|| - t)``.
    """
    qn2 = 0.0
    for k in range(size):
        qn2 += qt[k] * qt[k]
    qn = math.sqrt(qn2)
    if qn <= t:
        for i in range(size):
            out[i] = 0.0
        return
    if t == 0.0:
        mu = 0.0  # unpenalised block: least squares step on the range of G
    else:
        lmin = np.inf
        lmax = 0.0
        for k in range(size):
            lmin = min(lmin, evals[k])
            lmax = max(lmax, evals[k])
        lo = t * max(lmin, 0.0) / (qn - t)
        hi = t * lmax / (qn - t)
        mu = hi
        if hi > lo:
            for _ in range(100):
                h2 = 0.0
                h3 = 0.0
                for k in range(size):
                    den = max(evals[k], 0.0) + mu
                    v = qt[k] * qt[k] / (den * den)
                    h2 += v
                    h3 += v / den
                un = math.sqrt(h2)
                phi = 1.0 / un - mu / t
                if phi > 0.0:
                    lo = mu
                else:
                    hi = mu
                dphi = h3 / (un * un * un) - 1.0 / t
                new = mu - phi / dphi if dphi < 0.0 else 0.5 * (lo + hi)
                if not (lo < new < hi):
                    new = 0.5 * (lo + hi)
                done = abs(new - mu) <= 1e-14 * mu or hi - lo <= 1e-14 * hi
                mu = new
                if done:
                    break
    for k in range(size):
        den = max(evals[k], 0.0) + mu
        qt[k] = qt[k] / den if den > 0.0 else 0.0
    for i in range(size):
        s = 0.0
        for k in range(size):
            s += V[i, k] * qt[k]
        out[i] = s


@_jit
def _group_objective(
    x: np.ndarray, r: np.ndarray, gws: np.ndarray, ptr: np.ndarray, lamw: np.ndarray
) -> float:
    val = 0.5 * _dot(r, r)
    for g in gws:
        s = 0.0
        for j in range(ptr[g], ptr[g + 1]):
            s += x[j] * x[j]
        val += lamw[g] * math.sqrt(s)
    return val


@_jit
def _group_criterion(
    AT: np.ndarray,
    x: np.ndarray,
    r: np.ndarray,
    gws: np.ndarray,
    ptr: np.ndarray,
    lamw: np.ndarray,
    skip: np.ndarray,
) -> float:
    """Duality gap of the group-lasso subproblem restricted to the groups ``gws``.

    The pass sees every gradient, so it also sets ``skip`` (per position in ``gws``): a group at
    zero whose gradient norm is within its weight is optimal there for now and is skipped by the
    epochs until the next check; every other group is visited."""
    rr = _dot(r, r)
    pen_val = 0.0
    xc = 0.0
    ratio = 0.0
    for gi in range(gws.size):
        g = gws[gi]
        cn = 0.0
        xn = 0.0
        for j in range(ptr[g], ptr[g + 1]):
            c = _dot(AT[j], r)
            cn += c * c
            xn += x[j] * x[j]
            xc += x[j] * c
        pen_val += lamw[g] * math.sqrt(xn)
        skip[gi] = xn == 0.0 and cn <= lamw[g] * lamw[g]
        if lamw[g] > 0.0:
            ratio = max(ratio, math.sqrt(cn) / lamw[g])
    s = max(1.0, ratio)
    gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen_val - xc / s
    return max(gap, 0.0)


@_jit
def group_inner(
    AT: np.ndarray,
    x: np.ndarray,
    r: np.ndarray,
    gws: np.ndarray,
    ptr: np.ndarray,
    evals: np.ndarray,
    evecs: np.ndarray,
    lamw: np.ndarray,
    target: float,
    max_epochs: int,
    check_every: int,
    anderson_k: int,
) -> tuple[int, float, int, int]:
    """Cyclic exact block coordinate descent for the group lasso over the groups ``gws``.

    Columns are permuted so that group ``g`` is rows ``ptr[g]:ptr[g + 1]`` of ``AT``;
    ``evals[g], evecs[g]`` is the eigendecomposition of ``A_g^T A_g`` (padded). Each block step
    minimises the objective exactly in the block (:func:`_group_block_min`). Anderson
    extrapolation and the inner gap check work as in :func:`quad_inner`.
    """
    m = r.shape[0]
    gmax = evals.shape[1]
    p = 0
    for g in gws:
        p += ptr[g + 1] - ptr[g]
    idx = np.empty(p, dtype=np.int64)
    k = 0
    for g in gws:
        for j in range(ptr[g], ptr[g + 1]):
            idx[k] = j
            k += 1
    K = anderson_k
    hx = np.empty((K + 1, p))
    hr = np.empty((K + 1, m))
    coef = np.empty(max(K, 1))
    xa = np.empty(p)
    ra = np.empty(m)
    q = np.empty(gmax)
    qt = np.empty(gmax)
    u = np.empty(gmax)
    n_hist = 0
    accepted = 0
    crit = np.inf
    # Shrinking (glmnet's active-set cycling): a group left at zero by its last update is
    # skipped until the next criterion check, whose pass over every gradient visits again the
    # groups that have become worth moving. Most groups of a working set stay zero, and their
    # gradients are most of the cost of an epoch.
    skip = np.zeros(gws.size, dtype=np.bool_)
    for epoch in range(1, max_epochs + 1):
        for gi in range(gws.size):
            if skip[gi]:
                continue
            g = gws[gi]
            start = ptr[g]
            size = ptr[g + 1] - start
            if evals[g, size - 1] <= 0.0:
                continue  # all-zero block (eigenvalues ascending): nothing to fit
            # q = G x_g + A_g^T r, the linear term of the block problem, in the eigenbasis of G
            V = evecs[g]
            lam_g = evals[g]
            for i in range(size):
                q[i] = _dot(AT[start + i], r)
            for k in range(size):
                s = 0.0
                for i in range(size):
                    s += V[i, k] * q[i]
                xt = 0.0
                for i in range(size):
                    xt += V[i, k] * x[start + i]
                qt[k] = s + lam_g[k] * xt
            _group_block_min(lam_g, V, size, qt, lamw[g], u)
            zero = True
            for i in range(size):
                d = u[i] - x[start + i]
                if d != 0.0:
                    a = AT[start + i]
                    for ii in range(m):
                        r[ii] -= d * a[ii]
                    x[start + i] = u[i]
                if u[i] != 0.0:
                    zero = False
            skip[gi] = zero
        if K > 0:
            for kk in range(p):
                hx[n_hist, kk] = x[idx[kk]]
            hr[n_hist, :] = r
            n_hist += 1
            if n_hist == K + 1:
                n_hist = 0
                if _anderson_weights(hx, coef):
                    _combine(hx, coef, xa)
                    _combine(hr, coef, ra)
                    f_cur = _group_objective(x, r, gws, ptr, lamw)
                    for kk in range(p):
                        tmp = x[idx[kk]]
                        x[idx[kk]] = xa[kk]
                        xa[kk] = tmp
                    f_acc = _group_objective(x, ra, gws, ptr, lamw)
                    if f_acc < f_cur:
                        r[:] = ra
                        accepted += 1
                    else:
                        for kk in range(p):
                            x[idx[kk]] = xa[kk]
        if epoch % check_every == 0:
            crit = _group_criterion(AT, x, r, gws, ptr, lamw, skip)
            if crit <= target:
                return epoch, crit, INNER_TARGET, accepted
    return max_epochs, crit, INNER_MAX_EPOCHS, accepted


# --------------------------------------------------------------------------------------------------
# sparse logistic regression: proximal Newton on a working set
# --------------------------------------------------------------------------------------------------
@_jit
def _log1pexp(v: float) -> float:
    """``log(1 + exp(v))`` without overflow."""
    if v > 0.0:
        return v + math.log1p(math.exp(-v))
    return math.log1p(math.exp(v))


@_jit
def _sigmoid(v: float) -> float:
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@_jit
def _logreg_loss(y: np.ndarray, z: np.ndarray) -> float:
    s = 0.0
    for i in range(z.shape[0]):
        s += _log1pexp(-y[i] * z[i])
    return s


@_jit
def logreg_inner(
    AT: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
    ws: np.ndarray,
    lam: float,
    target: float,
    max_newton: int,
    max_cd: int,
    gram_max: int,
) -> tuple[int, float, int, int]:
    """Proximal Newton on ``sum_i log(1 + exp(-y_i z_i)) + lam ||x||_1`` over ``ws`` (``z = A x``).

    Each Newton step minimises the second-order model of the loss plus the l1 term over ``ws``
    by cyclic coordinate descent: on the data (``max_cd`` epochs at most, stopped early when the
    last epoch moved little) or, when ``|ws| <= gram_max``, on the weighted Gram matrix of the
    working set (to high accuracy, since its epochs are cheap), then backtracks along the
    direction until the Armijo condition of Tseng & Yun holds. The working-set duality gap
    (dual point: the rescaled ``y * sigmoid(-y z)``) is
    measured before every step and compared with ``target``.

    Returns ``(newton_steps, criterion, code, cd_epochs)``.
    """
    m = z.shape[0]
    p = ws.shape[0]
    use_gram = p <= gram_max
    H = np.empty((p, p) if use_gram else (0, 0))
    Hd = np.empty(p)
    w = np.empty(m)  # y * sigmoid(-y z) = -dloss/dz
    h = np.empty(m)  # sigmoid(y z) sigmoid(-y z) = d2loss/dz2
    Ad = np.empty(m)
    hAd = np.empty(m)
    tmp = np.empty(m)
    c = np.empty(p)
    Lh = np.empty(p)
    d = np.empty(p)
    ztry = np.empty(m)
    crit = np.inf
    epochs_total = 0
    for it in range(max_newton + 1):
        # --- derivatives at z, working-set gap -----------------------------------------------
        loss = 0.0
        for i in range(m):
            v = y[i] * z[i]
            sg = _sigmoid(-v)
            w[i] = y[i] * sg
            h[i] = sg * (1.0 - sg)
            loss += _log1pexp(-v)
        l1 = 0.0
        xc = 0.0
        cmax = 0.0
        for k in range(p):
            j = ws[k]
            c[k] = _dot(AT[j], w)
            l1 += abs(x[j])
            xc += x[j] * c[k]
            cmax = max(cmax, abs(c[k]))
        s = max(1.0, cmax / lam)
        primal = loss + lam * l1
        dual = 0.0
        for i in range(m):
            tt = y[i] * w[i] / s  # in [0, 1]
            if tt > 0.0:
                dual -= tt * math.log(tt)
            if tt < 1.0:
                dual -= (1.0 - tt) * math.log1p(-tt)
        crit = max(primal - dual, 0.0)
        if crit <= target:
            return it, crit, INNER_TARGET, epochs_total
        if it == max_newton:
            break
        # --- Newton direction by CD on the quadratic model ------------------------------------
        for k in range(p):
            d[k] = 0.0
        if use_gram:
            # Small working set: form H = A_ws^T diag(h) A_ws once (m p^2 / 2), then epochs
            # cost p^2 and the model is solved accurately (fast local convergence of Newton).
            for k in range(p):
                a = AT[ws[k]]
                for i in range(m):
                    tmp[i] = h[i] * a[i]
                for ll in range(k, p):
                    v = _dot(tmp, AT[ws[ll]])
                    H[k, ll] = v
                    H[ll, k] = v
                Hd[k] = 0.0
            for _ep in range(_GRAM_MAX_EPOCHS):
                epochs_total += 1
                move = 0.0
                scale = 0.0
                for k in range(p):
                    L = H[k, k]
                    if L <= 0.0:
                        continue
                    old = x[ws[k]] + d[k]
                    zz = L * old + c[k] - Hd[k]
                    if zz > lam:
                        new = (zz - lam) / L
                    elif zz < -lam:
                        new = (zz + lam) / L
                    else:
                        new = 0.0
                    delta = new - old
                    if delta != 0.0:
                        d[k] += delta
                        for ll in range(p):
                            Hd[ll] += delta * H[k, ll]
                        move = max(move, L * delta * delta)
                    scale = max(scale, L * d[k] * d[k])
                if move <= _GRAM_CD_TOL * scale:
                    break
            Ad[:] = 0.0
            for k in range(p):
                if d[k] != 0.0:
                    a = AT[ws[k]]
                    dk = d[k]
                    for i in range(m):
                        Ad[i] += dk * a[i]
        else:
            for k in range(p):
                a = AT[ws[k]]
                for i in range(m):
                    tmp[i] = a[i] * a[i]
                Lh[k] = _dot(tmp, h)
            Ad[:] = 0.0
            hAd[:] = 0.0
            for _ep in range(max_cd):
                epochs_total += 1
                move = 0.0
                scale = 0.0
                for k in range(p):
                    L = Lh[k]
                    if L <= 0.0:
                        continue
                    j = ws[k]
                    a = AT[j]
                    old = x[j] + d[k]
                    zz = L * old + c[k] - _dot(a, hAd)
                    if zz > lam:
                        new = (zz - lam) / L
                    elif zz < -lam:
                        new = (zz + lam) / L
                    else:
                        new = 0.0
                    delta = new - old
                    if delta != 0.0:
                        d[k] += delta
                        for i in range(m):
                            Ad[i] += delta * a[i]
                            hAd[i] += delta * h[i] * a[i]
                        move = max(move, L * delta * delta)
                    scale = max(scale, L * d[k] * d[k])
                if move <= 1e-6 * scale:
                    break
        # --- backtracking line search (Tseng & Yun) -------------------------------------------
        delta_model = 0.0
        for k in range(p):
            j = ws[k]
            delta_model += -c[k] * d[k] + lam * (abs(x[j] + d[k]) - abs(x[j]))
        if not delta_model < 0.0:
            break  # no descent direction left at this precision
        step = 1.0
        accepted = False
        for _ in range(30):
            for i in range(m):
                ztry[i] = z[i] + step * Ad[i]
            l1t = 0.0
            for k in range(p):
                l1t += abs(x[ws[k]] + step * d[k])
            f_try = _logreg_loss(y, ztry) + lam * l1t
            if f_try <= primal + 1e-4 * step * delta_model:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        for k in range(p):
            x[ws[k]] += step * d[k]
        z[:] = ztry
    return max_newton, crit, INNER_MAX_EPOCHS, epochs_total
