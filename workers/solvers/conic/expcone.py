r"""Projection onto the exponential cone and its dual, vectorised over many cones.

.. math::

    K_{\exp} = \operatorname{cl}\{(x, y, z) : y > 0,\; y e^{x / y} \le z\}, \qquad
    K_{\exp}^* = \operatorname{cl}\{(u, v, w) : u < 0,\; -u e^{v / u} \le e\, w\},

rows in SCS's order ``(x, y, z)``. The method is Friberg's (2023): besides a few faces with
closed-form projections, the projection ``p`` and the polar part ``v - p`` lie on the two boundary
rays

.. math::

    p = c_p (\rho, 1, e^{\rho}), \qquad v - p = c_d (1, 1 - \rho, -e^{-\rho}), \qquad
    c_p, c_d > 0,

which are orthogonal for every ``rho``; ``v`` lies in their span exactly when
:math:`h(\rho) = v \cdot (a \times b) = 0`,

.. math::

    h(\rho) = ((\rho - 1) x + y) e^{\rho} - (x - \rho y) e^{-\rho} - (\rho^2 - \rho + 1) z,

and ``c_p, c_d > 0`` confine the root to ``(1 - y/x, x/y)`` (either end missing when ``x`` or
``y`` is not positive). The root is bracketed more tightly with bounds derived from the distances
to cheap feasible points (Friberg, Section 4), then found by Newton's method safeguarded by
bisection; ``h`` is evaluated as ``h e^{-|rho|}``, which has the same sign and never overflows.

Every candidate (the heuristic points and the ray point) lies in the cone, so the one nearest to
``v`` is kept: that choice can only improve on any single candidate. The result is then checked by
its optimality conditions (``v - p`` in the polar cone, ``<p, v - p> = 0``); a cone that fails
(Newton misled by rounding) is redone by plain bisection of ``h`` over the whole admissible
interval.

References
----------
H. A. Friberg, "Projection onto the exponential cone: a univariate root-finding problem",
Optimization Methods and Software 38(3) (2023) 457-473.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace

__all__ = ["exp_polar_distance", "project_exp_cone", "project_exp_dual_cone"]

_HEUR_TOL = 1e-14  # accept a heuristic point this close to the input (input scaled to max-abs 1)
_KKT_TOL = 1e-11  # optimality check on the scaled input
_RHO_LIMIT = 700.0  # exp(rho) overflows soon after; such points are on a face numerically
_NEWTON_MAX_ITER = 100
_ROOT_TOL = 4.0 * float(np.finfo(float).eps)  # a few ulps of rho
_BISECT_ITER = 200
_E = math.e


def project_exp_dual_cone(V: Any) -> Any:
    """Project each row of ``V`` (shape ``(k, 3)``) onto the dual cone, by Moreau."""
    return V + project_exp_cone(-V)


def project_exp_cone(V: Any) -> Any:
    r"""Project each row ``(x, y, z)`` of ``V`` onto :math:`K_{\exp}`.

    Parameters
    ----------
    V : array, shape (k, 3)
        numpy or cupy; not modified.

    Returns
    -------
    array, shape (k, 3)
    """
    xp = array_namespace(V)
    V = xp.asarray(V)
    if V.shape[0] == 0:
        return xp.array(V, copy=True)
    # The cone is invariant under positive scaling; work on rows of max-abs 1.
    scale = xp.max(xp.abs(V), axis=1)
    safe = xp.where(scale > 0, scale, 1.0)
    W = V / safe[:, None]
    with np.errstate(all="ignore"):
        P = _project_scaled(xp, W)
    P = P * safe[:, None]
    return xp.where((scale > 0)[:, None], P, 0.0)


def _project_scaled(xp: Any, W: Any) -> Any:
    r0, s0, t0 = W[:, 0], W[:, 1], W[:, 2]
    vp, pdist = _primal_heuristic(xp, r0, s0, t0)
    vd, ddist = _polar_heuristic(xp, r0, s0, t0)
    # A point (numerically) in the polar cone projects to v - vd; with the heuristic points
    # complementary, (vp, vd) is the Moreau decomposition itself.
    P = xp.where((ddist < pdist)[:, None], W - vd, vp)
    resid = xp.max(xp.abs(vp + vd - W), axis=1)
    settled = (
        ((r0 <= 0) & (s0 <= 0))
        | (xp.minimum(pdist, ddist) <= _HEUR_TOL)
        | ((resid <= _HEUR_TOL) & (xp.abs(xp.sum(vp * vd, axis=1)) <= _HEUR_TOL))
    )
    todo = xp.nonzero(~settled)[0]
    if todo.shape[0] == 0:
        return P
    Wt = W[todo]
    heur = (vp[todo], Wt - vd[todo])
    lo, hi = _bracket(xp, Wt, pdist[todo], ddist[todo])
    rho = _root_newton(xp, Wt, lo, hi)
    Pt, err = _best(xp, Wt, heur + _ray_points(xp, Wt, rho))
    bad = xp.nonzero(err > _KKT_TOL)[0]
    if bad.shape[0] > 0:
        Wb = Wt[bad]
        lo_b, hi_b = _base_interval(xp, Wb)
        rho_b = _root_bisect(xp, Wb, lo_b, hi_b)
        cands = (Pt[bad], *_ray_points(xp, Wb, rho_b))
        Pt[bad] = _best(xp, Wb, cands)[0]
    P[todo] = Pt
    return P


def _ray_points(xp: Any, W: Any, rho: Any) -> tuple[Any, Any]:
    """The two projections implied by ``rho``: ``c_p a(rho)`` (exactly in the cone) and
    ``v - c_d b(rho)`` (polar part exactly in the polar cone). Near an end of the admissible
    interval one of ``c_p, c_d`` is a small difference of large numbers and the point built on
    it is inaccurate; the other one is then accurate, and :func:`_best` keeps it. Invalid
    points (a negative coefficient, overflow) are returned as NaN."""
    r0, s0 = W[:, 0], W[:, 1]
    q = _quad(rho)
    cp = ((rho - 1.0) * r0 + s0) / q
    cd = (r0 - rho * s0) / q
    rc = xp.clip(rho, -_RHO_LIMIT, _RHO_LIMIT)
    ray_p = xp.stack((cp * rho, cp, cp * xp.exp(rc)), axis=1)
    ray_d = xp.stack((cd, cd * (1.0 - rho), -cd * xp.exp(-rc)), axis=1)
    ok_p = (cp >= 0) & (xp.abs(rho) < _RHO_LIMIT)
    ok_d = (cd >= 0) & (xp.abs(rho) < _RHO_LIMIT)
    return (
        xp.where(ok_p[:, None], ray_p, xp.nan),
        xp.where(ok_d[:, None], W - ray_d, xp.nan),
    )


def _best(xp: Any, W: Any, cands: tuple[Any, ...]) -> tuple[Any, Any]:
    """The candidate with the smallest optimality error, and that error (row-wise)."""
    best = cands[0]
    err = _kkt_error(xp, W, best)
    for C in cands[1:]:
        e = _kkt_error(xp, W, C)
        better = e < err
        best = xp.where(better[:, None], C, best)
        err = xp.where(better, e, err)
    return best, err


def _primal_heuristic(xp: Any, r0: Any, s0: Any, t0: Any) -> tuple[Any, Any]:
    """Nearest of two points of the cone: the face ``(min(x,0), 0, max(z,0))`` and, for
    ``y > 0``, the point raised in ``z`` onto the boundary ``(x, y, max(z, y e^{x/y}))``."""
    vp = xp.stack((xp.minimum(r0, 0.0), xp.zeros_like(r0), xp.maximum(t0, 0.0)), axis=1)
    dist = xp.sqrt(xp.maximum(r0, 0.0) ** 2 + s0 * s0 + xp.minimum(t0, 0.0) ** 2)
    ypos = s0 > 0
    zb = xp.maximum(t0, xp.where(ypos, s0 * xp.exp(r0 / xp.where(ypos, s0, 1.0)), xp.inf))
    distb = zb - t0
    use = ypos & (distb < dist)
    vp = xp.where(use[:, None], xp.stack((r0, s0, zb), axis=1), vp)
    return vp, xp.where(use, distb, dist)


def _polar_heuristic(xp: Any, r0: Any, s0: Any, t0: Any) -> tuple[Any, Any]:
    """Nearest of two points of the polar cone ``-K*``: ``(0, min(y,0), min(z,0))`` and, for
    ``x > 0``, ``(x, y, min(z, -x e^{y/x - 1}))``."""
    vd = xp.stack((xp.zeros_like(r0), xp.minimum(s0, 0.0), xp.minimum(t0, 0.0)), axis=1)
    dist = xp.sqrt(r0 * r0 + xp.maximum(s0, 0.0) ** 2 + xp.maximum(t0, 0.0) ** 2)
    xpos = r0 > 0
    zb = xp.minimum(t0, xp.where(xpos, -r0 * xp.exp(s0 / xp.where(xpos, r0, 1.0) - 1.0), -xp.inf))
    distb = t0 - zb
    use = xpos & (distb < dist)
    vd = xp.where(use[:, None], xp.stack((r0, s0, zb), axis=1), vd)
    return vd, xp.where(use, distb, dist)


def _base_interval(xp: Any, W: Any) -> tuple[Any, Any]:
    """``rho`` with ``c_p > 0`` (``rho > 1 - y/x`` if ``x > 0``) and ``c_d > 0`` (``rho < x/y``
    if ``y > 0``), clipped to ``|rho| <= _RHO_LIMIT``."""
    r0, s0 = W[:, 0], W[:, 1]
    lo = xp.where(r0 > 0, 1.0 - s0 / xp.where(r0 > 0, r0, 1.0), -_RHO_LIMIT)
    hi = xp.where(s0 > 0, r0 / xp.where(s0 > 0, s0, 1.0), _RHO_LIMIT)
    return xp.clip(lo, -_RHO_LIMIT, _RHO_LIMIT), xp.clip(hi, -_RHO_LIMIT, _RHO_LIMIT)


def _quad(rho: Any) -> Any:
    return rho * (rho - 1.0) + 1.0


def _bracket(xp: Any, W: Any, pdist: Any, ddist: Any) -> tuple[Any, Any]:
    r"""Friberg's bracket for the root of ``h``.

    * ``z > 0``: ``p_z = c_p e^rho >= z`` and ``c_p <= max_rho c_p(rho)`` give a lower bound.
    * ``z < 0``: symmetrically ``c_d e^{-rho} >= -z`` gives an upper bound.
    * ``x > 0``: ``p_z = x (rho - (1 - y/x)) e^rho / q(rho)`` is at most ``min(Dd, Dp + z)``
      (``Dp, Dd`` the heuristic distances less the part the faces force), and
      ``e^rho / q(rho) >= min over rho' >= lo`` bounds ``rho`` above.
    * ``y > 0``: the mirror bound on ``|vd_z|`` bounds ``rho`` below.
    """
    r0, s0, t0 = W[:, 0], W[:, 1], W[:, 2]
    base_lo, base_hi = _base_interval(xp, W)
    lo, hi = base_lo, base_hi
    disc = xp.sqrt(r0 * r0 - r0 * s0 + s0 * s0)
    # argmax of c_p(rho) = ((rho - 1) x + y) / q(rho), in the form free of cancellation
    psi_p = xp.where(r0 > s0, (r0 - s0 + disc) / xp.where(r0 > s0, r0, 1.0), -s0 / (r0 - s0 - disc))
    cp_max = ((psi_p - 1.0) * r0 + s0) / _quad(psi_p)
    lo = xp.where((t0 > 0) & (cp_max > 0), xp.maximum(lo, xp.log(t0 / cp_max)), lo)
    # argmax of c_d(rho) = (x - rho y) / q(rho)
    psi_d = xp.where(s0 > r0, (r0 - disc) / xp.where(s0 > r0, s0, 1.0), (r0 - s0) / (r0 + disc))
    cd_max = (r0 - psi_d * s0) / _quad(psi_d)
    hi = xp.where((t0 < 0) & (cd_max > 0), xp.minimum(hi, xp.log(cd_max / -t0)), hi)
    dp = xp.sqrt(xp.maximum(pdist * pdist - xp.minimum(s0, 0.0) ** 2, 0.0))
    dd = xp.sqrt(xp.maximum(ddist * ddist - xp.minimum(r0, 0.0) ** 2, 0.0))
    # lower bound of e^rho / q(rho) over rho >= lo (q's ratio dips to e^2/3 at rho = 2)
    om_p = xp.exp(lo) / _quad(lo)
    om_p = xp.where(lo < 2.0, xp.minimum(om_p, _E * _E / 3.0), om_p)
    tpu = xp.maximum(1e-12, xp.minimum(dd, dp + t0))
    cand = xp.maximum(lo, base_lo + tpu / (r0 * om_p))
    hi = xp.where((r0 > 0) & (om_p > 0), xp.minimum(hi, cand), hi)
    # lower bound of e^-rho / q(rho) over rho <= hi
    om_d = xp.exp(-hi) / _quad(hi)
    om_d = xp.where(hi > -1.0, xp.minimum(om_d, _E / 3.0), om_d)
    tdl = xp.maximum(1e-12, xp.minimum(dp, dd - t0))
    cand = xp.minimum(hi, base_hi - tdl / (s0 * om_d))
    lo = xp.where((s0 > 0) & (om_d > 0), xp.maximum(lo, cand), lo)
    lo2 = xp.clip(xp.minimum(lo, hi), base_lo, base_hi)
    hi2 = xp.clip(xp.maximum(lo, hi), base_lo, base_hi)
    lo2 = xp.where(xp.isfinite(lo2), lo2, base_lo)
    hi2 = xp.where(xp.isfinite(hi2), hi2, base_hi)
    # Keep the refined bracket only where h changes sign on it.
    f_lo, f_hi = _h_scaled(xp, W, lo2)[0], _h_scaled(xp, W, hi2)[0]
    ok = (f_lo <= 0) != (f_hi <= 0)
    return xp.where(ok, lo2, base_lo), xp.where(ok, hi2, base_hi)


def _h_scaled(xp: Any, W: Any, rho: Any) -> tuple[Any, Any]:
    """``h(rho) e^{-|rho|}`` and its derivative (same sign as ``h``, no overflow)."""
    r0, s0, t0 = W[:, 0], W[:, 1], W[:, 2]
    a = (rho - 1.0) * r0 + s0
    b = r0 - rho * s0
    q = _quad(rho)
    da = rho * r0 + s0  # d/drho of a e^rho, over e^rho
    db = r0 - (rho - 1.0) * s0  # d/drho of -b e^-rho, over e^-rho
    dq = 2.0 * rho - 1.0
    pos = rho >= 0
    e1 = xp.exp(-xp.abs(rho))  # e^{-|rho|}
    e2 = e1 * e1
    # rho >= 0: h e^-rho = a - b e^-2rho - q z e^-rho
    # rho < 0:  h e^rho  = a e^2rho - b - q z e^rho
    f = xp.where(pos, a - b * e2 - q * t0 * e1, a * e2 - b - q * t0 * e1)
    dh = xp.where(pos, da + db * e2 - dq * t0 * e1, da * e2 + db - dq * t0 * e1)
    df = xp.where(pos, dh - f, dh + f)
    return f, df


def _root_newton(xp: Any, W: Any, lo: Any, hi: Any) -> Any:
    """Newton's method on ``h`` inside ``[lo, hi]``, bisecting whenever a step leaves it.

    Only the rows still running are carried from one iteration to the next, so the few that
    need many (bisection) steps do not keep the whole batch busy.
    """
    neg_lo = _h_scaled(xp, W, lo)[0] <= 0  # orientation of the bracket
    rho = 0.5 * (lo + hi)
    out = xp.array(rho, copy=True)
    act = xp.nonzero(hi > lo)[0]
    Wa, lo, hi, rho, neg_lo = W[act], lo[act], hi[act], rho[act], neg_lo[act]
    for _ in range(_NEWTON_MAX_ITER):
        if act.shape[0] == 0:
            break
        f, df = _h_scaled(xp, Wa, rho)
        same = (f <= 0) == neg_lo
        lo = xp.where(same, rho, lo)
        hi = xp.where(same, hi, rho)
        newton = rho - f / df
        inside = (newton > lo) & (newton < hi) & xp.isfinite(newton)
        nxt = xp.where(inside, newton, 0.5 * (lo + hi))
        tiny = _ROOT_TOL * xp.maximum(1.0, xp.abs(rho))
        fin = (f == 0) | (xp.abs(nxt - rho) <= tiny) | (hi - lo <= tiny)
        rho = xp.where(fin, rho, nxt)
        out[act] = rho
        keep = xp.nonzero(~fin)[0]
        act, Wa, lo, hi, rho, neg_lo = (
            act[keep],
            Wa[keep],
            lo[keep],
            hi[keep],
            rho[keep],
            neg_lo[keep],
        )
    return out


def _root_bisect(xp: Any, W: Any, lo: Any, hi: Any) -> Any:
    """Plain bisection of ``h`` over ``[lo, hi]`` (the fallback)."""
    neg_lo = _h_scaled(xp, W, lo)[0] <= 0
    for _ in range(_BISECT_ITER):
        mid = 0.5 * (lo + hi)
        same = (_h_scaled(xp, W, mid)[0] <= 0) == neg_lo
        lo = xp.where(same, mid, lo)
        hi = xp.where(same, hi, mid)
    return 0.5 * (lo + hi)


def _primal_violation(xp: Any, P: Any) -> Any:
    """Upper bound on the distance of each row to the cone, 0 inside it: the nearest of the
    face point, the point shifted in ``x`` to ``y log(z/y)`` and the one shifted in ``z`` to
    ``y e^{x/y}`` (on the curved part the boundary normal is dominated by ``y`` and ``x`` when
    ``x/y`` is large and by ``z`` when it is very negative, so one of the shifts is within a
    factor ``|x/y|`` of the distance)."""
    x, y, z = P[:, 0], P[:, 1], P[:, 2]
    face = xp.sqrt(xp.maximum(x, 0.0) ** 2 + y * y + xp.minimum(z, 0.0) ** 2)
    ypos = y > 0
    ys = xp.where(ypos, y, 1.0)
    zs = xp.where(z > 0, z, 1.0)
    xshift = xp.where(ypos & (z > 0), xp.maximum(x - ys * xp.log(zs / ys), 0.0), xp.inf)
    zshift = xp.where(ypos, xp.maximum(ys * xp.exp(x / ys) - z, 0.0), xp.inf)
    out = xp.minimum(face, xp.minimum(xshift, zshift))
    return xp.where(xp.isnan(out), xp.inf, out)


def _polar_violation(xp: Any, Q: Any) -> Any:
    """Upper bound on the distance of each row to the polar cone
    ``{(u, v, w) : u > 0, w <= -u e^{v/u - 1}}`` (closure), 0 inside it."""
    u, v, w = Q[:, 0], Q[:, 1], Q[:, 2]
    face = xp.sqrt(u * u + xp.maximum(v, 0.0) ** 2 + xp.maximum(w, 0.0) ** 2)
    upos = u > 0
    us = xp.where(upos, u, 1.0)
    ws = xp.where(w < 0, -w, 1.0)
    wshift = xp.where(upos, xp.maximum(w + us * xp.exp(v / us - 1.0), 0.0), xp.inf)
    vshift = xp.where(upos & (w < 0), xp.maximum(v - us * (1.0 + xp.log(ws / us)), 0.0), xp.inf)
    out = xp.minimum(face, xp.minimum(wshift, vshift))
    return xp.where(xp.isnan(out), xp.inf, out)


def exp_polar_distance(Q: Any) -> Any:
    """Upper bound on the distance of each row of ``Q`` to the polar cone ``-K*`` (0 inside)."""
    xp = array_namespace(Q)
    with np.errstate(all="ignore"):
        return _polar_violation(xp, Q)


def _kkt_error(xp: Any, W: Any, P: Any) -> Any:
    """Optimality error of ``P`` as the projection of ``W``: ``P`` off the cone, ``W - P`` off the
    polar cone, and ``|<P, W - P>|``; NaN rows (invalid candidates) give ``inf``."""
    Q = W - P
    err = _primal_violation(xp, P) + _polar_violation(xp, Q) + xp.abs(xp.sum(P * Q, axis=1))
    return xp.where(xp.isnan(err), xp.inf, err)
