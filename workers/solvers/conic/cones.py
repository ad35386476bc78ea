r"""Cones of SCS's standard form and the projection of a stacked vector onto them.

A :class:`ConeSpec` describes a Cartesian product :math:`\mathcal K = \mathcal K_1 \times \cdots`
with SCS's field names and row order: zero cone ``z``, non-negative orthant ``l``, box cone
(``bu``, ``bl``), second-order cones ``q``, PSD cones ``s``, primal then dual exponential cones
(``ep``, ``ed``), power cones ``p``, then the spectral cones of SCS's spectral branch in its order:
log-determinant ``d``, nuclear norm (``nuc_m``, ``nuc_n``), ``ell1``, sum of the largest
eigenvalues (``sl_n``, ``sl_k``). Row layout of each cone:

=============  ====================================================================================
``z``          ``{0}``; its dual is the free cone.
``l``          ``s >= 0``.
box            ``(t, s)``, ``s`` of length ``len(bu)``: :math:`t \ge 0,\; t\,b_l \le s \le t\,b_u`
               (``|b| >= 1e15`` or infinite: no bound). Dual:
               :math:`\{(\lambda, y) : \lambda + \sum_i \min(y_i b_{l,i}, y_i b_{u,i}) \ge 0\}`.
``q``          ``(t, x)``: :math:`\|x\|_2 \le t`, self-dual.
``s``          ``svec X`` (lower triangle by columns, off-diagonals times :math:`\sqrt 2`):
               :math:`X \succeq 0`, self-dual.
``ep``/``ed``  ``(x, y, z)``: :math:`y e^{x/y} \le z` / its dual :math:`-x e^{y/x} \le e z,\ x < 0`.
``p``          ``(x, y, z)``, ``a = p_i``: ``a >= 0``: :math:`x^a y^{1-a} \ge |z|`; ``a < 0``: the
               dual power cone of ``-a``, :math:`(x/|a|)^{|a|} (y/(1-|a|))^{1-|a|} \ge |z|`.
``d``          ``(t, v, svec X)``: :math:`t \ge -v \log\det(X / v)` (closure; dual in
               :mod:`workers.solvers.conic.spectral`).
``nuc``        ``(t, vec X)``, ``X`` ``m x n`` column-major, ``m >= n``: :math:`\|X\|_* \le t`.
``ell1``       ``(t, x)``: :math:`\|x\|_1 \le t`.
``sl``         ``(t, svec X)``: :math:`\sum_{i \le k} \lambda_i(X) \le t`.
=============  ====================================================================================

:func:`project_cone` returns :math:`P_{\mathcal K}(v)` or, with ``dual=True``,
:math:`P_{\mathcal K^*}(v) = v + P_{\mathcal K}(-v)` (Moreau). It works on numpy or cupy arrays:
elementwise work, ``eigh`` and ``svd`` run in the input's array module, and only eigenvalue
vectors of the spectral cones visit the host. :func:`in_cone_residual` measures membership
independently of the projections (closed forms, or the smallest step along an interior ray).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.conic.expcone import project_exp_cone, project_exp_dual_cone
from workers.solvers.conic.spectral import (
    PSD_BATCH_MAX_N,
    LogConeState,
    NuclearConeState,
    SumLargestConeState,
    project_ell1_epigraph,
    project_logdet_cone,
    project_nuclear_cone,
    project_psd_cone,
    project_psd_cones,
    project_sum_largest_cone,
    smat,
    svec,
    svec_size,
)

__all__ = [
    "ConeBlock",
    "ConeSpec",
    "ConeWorkspace",
    "in_cone_residual",
    "project_cone",
    "smat",
    "svec",
]

BOX_INFINITY = 1e15  # SCS's MAX_BOX_VAL: box bounds this large are absent
_POW_MAX_ITER = 200
_POW_TOL = 4.0 * float(np.finfo(float).eps)  # a few ulps


@dataclass(frozen=True)
class ConeBlock:
    """One cone's rows ``start:stop`` of the stacked vector.

    ``kind`` is one of ``z l box q s ep ed p d nuc ell1 sl``; ``dims`` holds ``(size,)`` for
    ``q``, ``(n,)`` for ``s``/``d``/``ell1``, ``(m, n)`` for ``nuc``, ``(n, k)`` for ``sl`` and is
    empty otherwise; ``power`` is the parameter of a ``p`` cone. ``z``, ``l`` and the box are one
    block each (they are products of scalar cones already).
    """

    kind: str
    start: int
    stop: int
    dims: tuple[int, ...] = ()
    power: float = 0.0

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)


def _ints(values: Iterable[Any], name: str) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if any(v < 0 for v in out):
        raise ValueError(f"{name} sizes must be non-negative, got {out}")
    return out


@dataclass(frozen=True)
class ConeSpec:
    """A product cone in SCS's conventions (see the module docstring for the row layouts).

    Sequences may be given as lists; they are stored as tuples so the spec is hashable (the
    projection caches its index arrays per spec).
    """

    z: int = 0
    l: int = 0  # noqa: E741 - SCS's field name
    bu: tuple[float, ...] = ()
    bl: tuple[float, ...] = ()
    q: tuple[int, ...] = ()
    s: tuple[int, ...] = ()
    ep: int = 0
    ed: int = 0
    p: tuple[float, ...] = ()
    d: tuple[int, ...] = ()
    nuc_m: tuple[int, ...] = ()
    nuc_n: tuple[int, ...] = ()
    ell1: tuple[int, ...] = ()
    sl_n: tuple[int, ...] = ()
    sl_k: tuple[int, ...] = ()
    _plan: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("z", "l", "ep", "ed"):
            value = int(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")
            put(self, name, value)
        for name in ("q", "s", "d", "nuc_m", "nuc_n", "ell1", "sl_n", "sl_k"):
            put(self, name, _ints(getattr(self, name), name))
        bu = tuple(float(b) for b in self.bu)
        bl = tuple(float(b) for b in self.bl)
        if len(bu) != len(bl):
            raise ValueError(f"bu and bl differ in length ({len(bu)} vs {len(bl)})")
        if any(lo > hi for lo, hi in zip(bl, bu, strict=True)):
            raise ValueError("box cone: some bl > bu")
        put(self, "bu", bu)
        put(self, "bl", bl)
        p = tuple(float(a) for a in self.p)
        if any(not -1.0 <= a <= 1.0 for a in p):
            raise ValueError(f"power cone parameters must lie in [-1, 1], got {p}")
        put(self, "p", p)
        if any(n < 1 for n in self.d):
            raise ValueError(f"log-det cone sizes must be >= 1, got {self.d}")
        if len(self.nuc_m) != len(self.nuc_n):
            raise ValueError("nuc_m and nuc_n differ in length")
        for m, n in zip(self.nuc_m, self.nuc_n, strict=True):
            if not 1 <= n <= m:
                raise ValueError(f"nuclear cone needs 1 <= n <= m, got {m} x {n}")
        if any(n < 1 for n in self.ell1):
            raise ValueError(f"ell1 cone sizes must be >= 1, got {self.ell1}")
        if len(self.sl_n) != len(self.sl_k):
            raise ValueError("sl_n and sl_k differ in length")
        for n, k in zip(self.sl_n, self.sl_k, strict=True):
            if not 1 <= k <= n:
                raise ValueError(f"sum-largest cone needs 1 <= k <= n, got n={n}, k={k}")

    def size(self) -> int:
        """Number of rows ``m`` of the stacked vector."""
        return self._blocks[-1].stop if self._blocks else 0

    def blocks(self) -> list[ConeBlock]:
        """Row ranges of the cones in SCS's order: z, l, box, q, s, ep, ed, p, d, nuc, ell1, sl."""
        return list(self._blocks)

    @cached_property
    def _blocks(self) -> tuple[ConeBlock, ...]:
        out: list[ConeBlock] = []
        pos = 0

        def add(kind: str, length: int, dims: tuple[int, ...] = (), power: float = 0.0) -> None:
            nonlocal pos
            out.append(ConeBlock(kind, pos, pos + length, dims, power))
            pos += length

        if self.z:
            add("z", self.z)
        if self.l:
            add("l", self.l)
        if self.bu:
            add("box", len(self.bu) + 1)
        for size in self.q:
            add("q", size, (size,))
        for n in self.s:
            add("s", svec_size(n), (n,))
        for _ in range(self.ep):
            add("ep", 3)
        for _ in range(self.ed):
            add("ed", 3)
        for a in self.p:
            add("p", 3, (), a)
        for n in self.d:
            add("d", svec_size(n) + 2, (n,))
        for m, n in zip(self.nuc_m, self.nuc_n, strict=True):
            add("nuc", m * n + 1, (m, n))
        for n in self.ell1:
            add("ell1", n + 1, (n,))
        for n, k in zip(self.sl_n, self.sl_k, strict=True):
            add("sl", svec_size(n) + 1, (n, k))
        return tuple(out)


@dataclass
class ConeWorkspace:
    """Optional state carried between projections of slowly changing vectors (a solver's
    iterates): warm starts of the log-det cones' Newton method, one per ``d`` cone, the
    route (Gram ``eigh`` or SVD) of each nuclear-norm cone, and how many top eigenpairs each
    sum-largest cone changed last time (the size of its partial ``eigh``)."""

    logdet: dict[int, LogConeState] = field(default_factory=dict)
    nuclear: dict[int, NuclearConeState] = field(default_factory=dict)
    sum_largest: dict[int, SumLargestConeState] = field(default_factory=dict)

    def state(self, kind: str, index: int) -> Any:
        """The state of the ``index``-th cone of ``kind`` (``d``, ``nuc`` or ``sl``), made on
        first use (not built and thrown away on every later call, as ``setdefault`` would)."""
        if kind == "d":
            return _state_of(self.logdet, index, LogConeState)
        if kind == "nuc":
            return _state_of(self.nuclear, index, NuclearConeState)
        return _state_of(self.sum_largest, index, SumLargestConeState)


_State = TypeVar("_State")


def _state_of(table: dict[int, _State], index: int, make: Callable[[], _State]) -> _State:
    found = table.get(index)
    if found is None:
        found = table[index] = make()
    return found


_STATEFUL = frozenset(("d", "nuc", "sl"))


# --------------------------------------------------------------------------------------------
# projection
# --------------------------------------------------------------------------------------------


def project_cone(
    v: Any, cones: ConeSpec, *, dual: bool = False, work: ConeWorkspace | None = None
) -> Any:
    r"""Euclidean projection of ``v`` onto the product cone or, with ``dual=True``, its dual.

    Parameters
    ----------
    v : array, shape (m,)
        numpy or cupy, ``m == cones.size()``; not modified.
    cones : ConeSpec
    dual : bool
        Project onto :math:`\mathcal K^*` by Moreau: :math:`P_{\mathcal K^*}(v) = v +
        P_{\mathcal K}(-v)`.
    work : ConeWorkspace, optional
        Warm starts for repeated calls (used by the log-det cones).

    Returns
    -------
    array, shape (m,)
        A new array in the module of ``v``.
    """
    xp = array_namespace(v)
    v = xp.asarray(v)
    m = cones.size()
    if v.ndim != 1 or v.shape[0] != m:
        raise ValueError(f"expected a vector of length {m} for {cones}, got shape {v.shape}")
    return _project(xp, v, cones, work, dual)


_VECTORISED = frozenset(("q", "s", "ep", "ed", "p"))


def _segments(cones: ConeSpec, kind: str) -> list[ConeBlock]:
    return [b for b in cones.blocks() if b.kind == kind]


def _plan(cones: ConeSpec, xp: Any) -> dict[str, Any]:
    """Index arrays for the vectorised cones, built once per spec and array module."""
    key = xp.__name__
    cached = cones._plan.get(key)
    if cached is not None:
        return dict(cached)
    plan: dict[str, Any] = {}
    # cones projected one by one (thousands of small exp or SOC blocks are not looped over)
    plan["loop"] = [b for b in cones.blocks() if b.kind not in _VECTORISED]
    # Second-order and small PSD cones grouped by size: one gather, one batched kernel, one
    # scatter. A PSD cone above the batching size is projected on its own rows (a slice: the
    # gather and scatter of its n(n+1)/2 entries would only add to the eigh).
    plan["s_large"] = [b.rows for b in _segments(cones, "s") if b.dims[0] > PSD_BATCH_MAX_N]
    for kind in ("q", "s"):
        groups: dict[int, list[int]] = {}
        for b in _segments(cones, kind):
            if kind == "s" and b.dims[0] > PSD_BATCH_MAX_N:
                continue
            groups.setdefault(b.dims[0], []).append(b.start)
        plan[kind] = [
            (size, xp.asarray(np.add.outer(np.asarray(starts), np.arange(b_len))))
            for size, starts in groups.items()
            for b_len in [size if kind == "q" else svec_size(size)]
        ]
    for kind in ("ep", "ed", "p"):
        segs = _segments(cones, kind)
        plan[kind] = (segs[0].start, len(segs)) if segs else None
    if cones.p:
        a = np.asarray(cones.p)
        plan["p_abs"] = xp.asarray(np.abs(a))
        plan["p_dual"] = xp.asarray(a < 0)
    if cones.bu:
        bu = np.asarray(cones.bu)
        bl = np.asarray(cones.bl)
        plan["box"] = (xp.asarray(bu), xp.asarray(bl))
    cones._plan[key] = plan
    return dict(plan)


def _project(xp: Any, v: Any, cones: ConeSpec, work: ConeWorkspace | None, dual: bool) -> Any:
    """``P_K(v)`` or ``P_{K*}(v)``, block by block. For the dual, a self-dual block (orthant,
    second-order, PSD) is projected as it is, the zero cone's dual (the free cone) keeps ``v``,
    and every other block goes through Moreau on its own rows: ``v_i + P_{K_i}(-v_i)``. Doing
    this per block spares the solver's every iteration two passes over the whole vector. The
    matrix cones write into their rows of the result (large blocks are not copied twice)."""
    out = xp.empty_like(v)  # every block below writes all of its rows
    plan = _plan(cones, xp)

    def arg(rows: Any) -> Any:
        return -v[rows] if dual else v[rows]

    def put(rows: Any, projected: Any) -> None:
        # ``projected`` is P_K(arg(rows)), a new array; by Moreau the dual adds v[rows] to it
        if dual:
            projected += v[rows]
        out[rows] = projected

    def moreau(rows: Any) -> None:
        # P_K(arg(rows)) is already in out[rows]
        if dual:
            out[rows] += v[rows]

    seen: dict[str, int] = {}
    for b in plan["loop"]:
        kind = b.kind
        rows = b.rows
        state = None
        if kind in _STATEFUL:
            index = seen.get(kind, 0)
            seen[kind] = index + 1
            state = work.state(kind, index) if work is not None else None
        if kind == "z":
            out[rows] = v[rows] if dual else 0.0
        elif kind == "l":
            xp.maximum(v[rows], 0.0, out=out[rows])
        elif kind == "box":
            bu, bl = plan["box"]
            put(rows, _project_box(xp, arg(rows), bu, bl))
        elif kind == "d":
            project_logdet_cone(arg(rows), b.dims[0], state, out=out[rows])
            moreau(rows)
        elif kind == "nuc":
            m_nuc, n_nuc = b.dims
            project_nuclear_cone(arg(rows), m_nuc, n_nuc, state, out=out[rows])
            moreau(rows)
        elif kind == "ell1":
            _project_ell1_block(arg(rows), out[rows])
            moreau(rows)
        elif kind == "sl":
            n_sl, k_sl = b.dims
            project_sum_largest_cone(arg(rows), n_sl, k_sl, state, out=out[rows])
            moreau(rows)
    for _size, idx in plan["q"]:
        out[idx] = _project_soc(xp, v[idx])
    for _size, idx in plan["s"]:
        out[idx] = project_psd_cones(v[idx])
    for rows in plan["s_large"]:
        project_psd_cone(v[rows], out=out[rows])
    if plan["ep"] is not None:
        start, count = plan["ep"]
        rows = slice(start, start + 3 * count)
        put(rows, project_exp_cone(arg(rows).reshape(count, 3)).reshape(-1))
    if plan["ed"] is not None:
        start, count = plan["ed"]
        rows = slice(start, start + 3 * count)
        put(rows, project_exp_dual_cone(arg(rows).reshape(count, 3)).reshape(-1))
    if plan["p"] is not None:
        start, count = plan["p"]
        rows = slice(start, start + 3 * count)
        V = arg(rows).reshape(count, 3)
        flip = plan["p_dual"][:, None]
        # dual power cone by Moreau: P_{K*}(x) = x + P_K(-x)
        Pk = _project_power(xp, xp.where(flip, -V, V), plan["p_abs"])
        put(rows, xp.where(flip, V + Pk, Pk).reshape(-1))
    return out


def _project_ell1_block(v: Any, out: Any) -> None:
    """Rows ``(t, x)`` of an ell1 cone, written into ``out`` (a view of the result: a vector of
    a robust-PCA problem's size is not worth copying twice)."""
    t, _ = project_ell1_epigraph(float(v[0]), v[1:], out=out[1:])
    out[0] = t


def _project_soc(xp: Any, V: Any) -> Any:
    """Rows ``(t, x)`` of ``V`` onto ``||x|| <= t``."""
    t = V[:, 0]
    nx = xp.sqrt(xp.sum(V[:, 1:] ** 2, axis=1))
    alpha = 0.5 * (t + nx)
    factor = xp.where(nx > 0, alpha / xp.where(nx > 0, nx, 1.0), 0.0)
    P = xp.concatenate((alpha[:, None], V[:, 1:] * factor[:, None]), axis=1)
    P = xp.where((nx <= t)[:, None], V, P)
    return xp.where((nx <= -t)[:, None], 0.0, P)


def _project_box(xp: Any, v: Any, bu: Any, bl: Any) -> Any:
    r"""Project ``(t0, s0)`` onto :math:`\{(t, s) : t \ge 0,\ t b_l \le s \le t b_u\}`.

    For fixed ``t`` the best ``s`` is ``clip(s0, t bl, t bu)``, leaving the convex piecewise
    quadratic :math:`\varphi(t) = \tfrac12 (t - t_0)^2
    + \tfrac12 \sum_i \operatorname{dist}(s_{0,i}, [t b_{l,i}, t b_{u,i}])^2`.
    Each bound term :math:`\tfrac12 (a - t c)_+^2` (``c = b_u``,
    ``a = s0``; or ``c = b_l``, ``a = s0`` mirrored) contributes ``c^2 t - c a`` to
    :math:`\varphi'` on one side of its kink ``a / c``, so :math:`\varphi'` is continuous,
    piecewise linear and non-decreasing; sorting the kinks and accumulating slopes gives it at
    every kink and the root exactly (no iteration), in ``O(k log k)``.
    """
    t0 = float(v[0])
    s0 = v[1:]
    fin_u = xp.abs(bu) < BOX_INFINITY
    fin_l = xp.abs(bl) < BOX_INFINITY
    # Bound terms: upper (c = bu) active where s0 > t c, lower (c = bl) active where s0 < t c.
    # Each adds c^2 t - c s0 to phi'. Upper with c > 0 and lower with c < 0 are active left of
    # their kink s0 / c; the other two right of it; c == 0 terms do not depend on t.
    c = xp.concatenate((xp.where(fin_u, bu, 0.0), xp.where(fin_l, bl, 0.0)))
    a = xp.concatenate((s0, s0))
    upper = xp.concatenate((xp.ones(s0.shape, dtype=bool), xp.zeros(s0.shape, dtype=bool)))
    keep = xp.concatenate((fin_u, fin_l)) & (c != 0)
    c = xp.where(keep, c, 1.0)
    kink = xp.where(keep, a / c, -xp.inf)
    left = keep & (upper == (c > 0))
    right = keep & ~left
    c2 = xp.where(keep, c * c, 0.0)
    ca = xp.where(keep, c * a, 0.0)
    order = xp.argsort(kink)
    k_s = kink[order]
    c2_l, ca_l = xp.where(left, c2, 0.0)[order], xp.where(left, ca, 0.0)[order]
    c2_r, ca_r = xp.where(right, c2, 0.0)[order], xp.where(right, ca, 0.0)[order]
    # phi' at each kink tau_j; inclusive sums are fine (a term vanishes at its own kink)
    tot_l2, tot_la = xp.sum(c2_l), xp.sum(ca_l)
    cl2, cla = xp.cumsum(c2_l), xp.cumsum(ca_l)
    slope = 1.0 + xp.cumsum(c2_r) + (tot_l2 - cl2)
    dphi = slope * k_s - t0 - xp.cumsum(ca_r) - (tot_la - cla)
    at0_l = left & (kink > 0)
    at0_r = right & (kink < 0)
    dphi0 = -t0 - float(xp.sum(xp.where(at0_l, ca, 0.0)) + xp.sum(xp.where(at0_r, ca, 0.0)))
    if dphi0 >= 0.0:
        t = 0.0
    else:
        cand = (k_s > 0) & (dphi >= 0)
        if bool(xp.any(cand)):
            j = int(xp.argmax(cand))
            t_hi, f_hi = float(k_s[j]), float(dphi[j])
            t_lo, f_lo = 0.0, dphi0
            if j > 0 and float(k_s[j - 1]) > 0:
                t_lo, f_lo = float(k_s[j - 1]), float(dphi[j - 1])
            t = t_hi if f_hi == f_lo else t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo)
        else:
            # right of every kink only the right-active terms remain
            slope_end = 1.0 + float(xp.sum(xp.where(right, c2, 0.0)))
            t = (t0 + float(xp.sum(xp.where(right, ca, 0.0)))) / slope_end
    t = max(t, 0.0)
    tbu = t * xp.where(fin_u, bu, 0.0)
    tbl = t * xp.where(fin_l, bl, 0.0)
    s = xp.where(fin_u & (s0 > tbu), tbu, s0)
    s = xp.where(fin_l & (s < tbl), tbl, s)
    out = xp.empty_like(v)
    out[0] = t
    out[1:] = s
    return out


def _project_power(xp: Any, V: Any, a: Any) -> Any:
    r"""Rows ``(x, y, z)`` of ``V`` onto :math:`\{x^a y^{1-a} \ge |z|,\ x, y \ge 0\}`.

    Off the cone, its polar and the plane ``z = 0``, the projection is
    ``(x(r), y(r), sign(z) r)`` with ``x(r) = (x0 + sqrt(x0^2 + 4 a r (|z0| - r))) / 2`` (and
    ``y(r)`` with ``1 - a``), ``r`` the root in ``(0, |z0|)`` of
    :math:`\phi(r) = x(r)^a y(r)^{1-a} - r` (Hien 2015; SCS). ``phi > 0`` just right of 0 and
    ``phi(|z0|) < 0``, and every root in the open interval satisfies the KKT conditions (the
    multiplier is ``|z0| - r > 0``), hence is the projection: Newton's method inside the
    bracket, bisecting when a step leaves it, cannot converge to anything else.
    """
    scale = xp.max(xp.abs(V), axis=1)
    safe = xp.where(scale > 0, scale, 1.0)
    W = V / safe[:, None]
    x0, y0, z0 = W[:, 0], W[:, 1], W[:, 2]
    rh = xp.abs(z0)
    b = 1.0 - a
    with np.errstate(all="ignore"):
        in_k = (x0 >= 0) & (y0 >= 0) & (x0**a * y0**b >= rh)
        polar_c = a**a * b**b
        in_polar = (x0 <= 0) & (y0 <= 0) & ((-x0) ** a * (-y0) ** b >= rh * polar_c)
        flat = xp.stack((xp.maximum(x0, 0.0), xp.maximum(y0, 0.0), xp.zeros_like(x0)), axis=1)
        todo = xp.nonzero(~(in_k | in_polar | (rh == 0)))[0]
        P = xp.where(in_k[:, None], W, flat)
        P = xp.where(in_polar[:, None], 0.0, P)
        if todo.shape[0] > 0:
            P[todo] = _power_root(xp, W[todo], a[todo])
    P = P * safe[:, None]
    return xp.where((scale > 0)[:, None], P, 0.0)


def _power_xy(xp: Any, h: Any, c: Any, r: Any, rh: Any) -> tuple[Any, Any]:
    """``x(r)`` (free of cancellation for ``h < 0``) and ``sqrt(h^2 + 4 c r (rh - r)) = 2x - h``."""
    g = 4.0 * c * r * (rh - r)
    sq = xp.sqrt(h * h + g)
    den = xp.where(sq - h > 0, sq - h, 1.0)
    x = xp.where(h >= 0, 0.5 * (h + sq), xp.where(sq - h > 0, 0.5 * g / den, 0.0))
    return x, sq


def _power_root(xp: Any, W: Any, a: Any) -> Any:
    x0, y0, z0 = W[:, 0], W[:, 1], W[:, 2]
    rh = xp.abs(z0)
    r_out = 0.5 * rh
    act = xp.arange(rh.shape[0])
    x0a, y0a, rha, aa = x0, y0, rh, a
    lo = xp.zeros_like(rh)
    hi = rh
    r = r_out.copy()
    for _ in range(_POW_MAX_ITER):
        if act.shape[0] == 0:
            break
        ba = 1.0 - aa
        x, sx = _power_xy(xp, x0a, aa, r, rha)
        y, sy = _power_xy(xp, y0a, ba, r, rha)
        f = x**aa * y**ba
        phi = f - r
        lo = xp.where(phi > 0, r, lo)
        hi = xp.where(phi > 0, hi, r)
        dx = xp.where(aa > 0, aa * aa * (rha - 2.0 * r) / (sx * x), 0.0)  # a x'/x
        dy = xp.where(ba > 0, ba * ba * (rha - 2.0 * r) / (sy * y), 0.0)
        dphi = f * (dx + dy) - 1.0
        newton = r - phi / dphi
        inside = (newton > lo) & (newton < hi) & xp.isfinite(newton)
        nxt = xp.where(inside, newton, 0.5 * (lo + hi))
        # no test on |phi|: next to the polar cone phi is flat (~ r (C - 1), C ~ 1) and small
        # for every r, so only the bracket or a converged step says the root is found
        tol = _POW_TOL * rha
        fin = (phi == 0) | (hi - lo <= tol) | (xp.abs(nxt - r) <= _POW_TOL * r)
        r = xp.where(fin, r, nxt)
        r_out[act] = r
        keep = xp.nonzero(~fin)[0]
        act, x0a, y0a, rha, aa = act[keep], x0a[keep], y0a[keep], rha[keep], aa[keep]
        lo, hi, r = lo[keep], hi[keep], r[keep]
    b = 1.0 - a
    x = _power_xy(xp, x0, a, r_out, rh)[0]
    y = _power_xy(xp, y0, b, r_out, rh)[0]
    return xp.stack((x, y, xp.where(z0 < 0, -r_out, r_out)), axis=1)


# --------------------------------------------------------------------------------------------
# membership residuals
# --------------------------------------------------------------------------------------------


def in_cone_residual(v: Any, cones: ConeSpec, *, dual: bool = False) -> float:
    r"""Largest membership violation of ``v`` over the cones of ``cones`` (or their duals).

    Computed from each cone's definition, not from the projections, so tests can use it to check
    them. Each cone's violation is distance-like (zero inside, comparable to the Euclidean
    distance up to a modest factor, in the units of ``v``):

    * linear, box, second-order, PSD, ell1, nuclear, sum-largest cones and their duals: the
      largest amount by which a defining inequality fails (``max(-lambda_min, 0)`` for PSD,
      ``||x||_1 - t`` for ell1, the distance to the hyperplane ``tr Z + k s = 0`` for the
      sum-largest dual, and so on);
    * exponential, power and log-det cones and duals: the smallest ``eps >= 0`` such that
      ``v + eps e`` is in the cone, ``e`` a fixed unit vector in its interior (found by
      bisection; the cones are convex, so the feasible ``eps`` form an interval).

    Returns
    -------
    float
        ``max`` over the cones (0.0 for an empty spec).
    """
    x = np.asarray(to_numpy(v), dtype=float)
    if x.shape != (cones.size(),):
        raise ValueError(f"expected a vector of length {cones.size()}, got shape {x.shape}")
    worst = 0.0
    triples: dict[str, list[ConeBlock]] = {"ep": [], "ed": [], "p": []}
    for b in cones.blocks():
        if b.kind in triples:
            triples[b.kind].append(b)
        else:
            worst = max(worst, _block_residual(b, x[b.rows], cones, dual))
    # the 3-dimensional cones of one kind are contiguous: one vectorised bisection per kind
    for kind, blocks in triples.items():
        if not blocks:
            continue
        X = x[blocks[0].start : blocks[-1].stop].reshape(-1, 3)
        if kind == "p":
            power = np.array([b.power for b in blocks])
            worst = max(worst, float(np.max(_power_residual_rows(X, power, dual))))
        else:
            primal = (kind == "ep") != dual
            member = _exp_member_rows if primal else _exp_dual_member_rows
            worst = max(worst, float(np.max(_ray_residual_rows(X, member, (-1.0, 1.0, 1.0)))))
    return worst


def _block_residual(b: ConeBlock, x: np.ndarray, cones: ConeSpec, dual: bool) -> float:
    kind = b.kind
    if kind == "z":
        return 0.0 if dual else float(np.max(np.abs(x)))
    if kind == "l":
        return float(np.max(np.maximum(-x, 0.0)))
    if kind == "box":
        return _box_residual(x, np.asarray(cones.bu), np.asarray(cones.bl), dual)
    if kind == "q":
        return max(float(np.linalg.norm(x[1:])) - float(x[0]), 0.0)
    if kind == "s":
        if x.size == 0:
            return 0.0
        return max(-float(np.linalg.eigvalsh(smat(x))[0]), 0.0)
    if kind == "d":
        n = b.dims[0]
        lam = np.linalg.eigvalsh(smat(x[2:]))
        y = np.concatenate((x[:2], lam))
        member = _logdet_dual_member if dual else _logdet_member
        return _ray_residual(y, member, np.ones(n + 2))
    if kind == "nuc":
        m, n = b.dims
        sig = np.linalg.svd(x[1:].reshape(n, m), compute_uv=False)
        bound = float(sig[0]) if dual else float(np.sum(sig))
        return max(bound - float(x[0]), 0.0)
    if kind == "ell1":
        body = np.abs(x[1:])
        bound = float(np.max(body)) if dual else float(np.sum(body))
        return max(bound - float(x[0]), 0.0)
    if kind == "sl":
        n, k = b.dims
        lam = np.linalg.eigvalsh(smat(x[1:]))  # ascending
        t = float(x[0])
        if not dual:
            return max(float(np.sum(lam[n - k :])) - t, 0.0)
        # K* = {(s, Z): 0 <= -Z <= s I, tr(-Z) = k s}
        return max(
            -t,
            float(lam[-1]),
            -t - float(lam[0]),
            abs(float(np.sum(lam)) + k * t) / math.sqrt(n + k * k),
            0.0,
        )
    raise AssertionError(kind)


def _box_residual(x: np.ndarray, bu: np.ndarray, bl: np.ndarray, dual: bool) -> float:
    t, s = float(x[0]), x[1:]
    fin_u = np.abs(bu) < BOX_INFINITY
    fin_l = np.abs(bl) < BOX_INFINITY
    if not dual:
        up = np.where(fin_u, s - t * np.where(fin_u, bu, 0.0), 0.0)
        low = np.where(fin_l, t * np.where(fin_l, bl, 0.0) - s, 0.0)
        return max(-t, float(np.max(up, initial=0.0)), float(np.max(low, initial=0.0)), 0.0)
    # lambda + sum_i min_{b in [bl_i, bu_i]} y_i b >= 0; a wrong-sign entry against an absent
    # bound cannot be compensated and counts with its own size.
    lam, y = t, s
    term = np.where(y > 0, y * np.where(fin_l, bl, 0.0), y * np.where(fin_u, bu, 0.0))
    wrong = ((y > 0) & ~fin_l) | ((y < 0) & ~fin_u)
    finite_part = max(-(lam + float(np.sum(np.where(wrong, 0.0, term)))), 0.0)
    return max(finite_part, float(np.max(np.where(wrong, np.abs(y), 0.0), initial=0.0)))


def _ray_residual(
    x: np.ndarray, member: Any, direction: np.ndarray, iterations: int = 100
) -> float:
    """Smallest ``eps >= 0`` with ``member(x + eps e)``, ``e = direction / |direction|``."""
    e = direction / np.linalg.norm(direction)
    with np.errstate(all="ignore"):
        if member(x):
            return 0.0
        scale = max(float(np.max(np.abs(x))), 1e-300)
        hi = 1e-17 * scale
        while not member(x + hi * e):
            hi *= 2.0
            if hi > 1e300:
                return math.inf
        lo = 0.0
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            if member(x + mid * e):
                hi = mid
            else:
                lo = mid
    return hi


def _ray_residual_rows(
    X: np.ndarray,
    member: Callable[[np.ndarray], np.ndarray],
    direction: tuple[float, float, float],
    iterations: int = 100,
) -> np.ndarray:
    """Row-wise :func:`_ray_residual` for a batch of 3-dimensional cones."""
    e = np.asarray(direction) / np.linalg.norm(direction)
    with np.errstate(all="ignore"):
        inside = member(X)
        hi = 1e-17 * np.maximum(np.max(np.abs(X), axis=1), 1e-300)
        for _ in range(2100):  # 2^2100 * 1e-317 > 1e300
            ok = member(X + hi[:, None] * e)
            if bool(np.all(ok | (hi > 1e300))):
                break
            hi = np.where(ok, hi, 2.0 * hi)
        lo = np.zeros_like(hi)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            ok = member(X + mid[:, None] * e)
            hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.where(inside, 0.0, hi)


def _exp_member_rows(Y: np.ndarray) -> np.ndarray:
    a, b, c = Y[:, 0], Y[:, 1], Y[:, 2]
    curved = (
        (b > 0) & (c > 0) & (a <= b * np.log(np.where(c > 0, c, 1.0) / np.where(b > 0, b, 1.0)))
    )
    return curved | ((b == 0) & (a <= 0) & (c >= 0))


def _exp_dual_member_rows(Y: np.ndarray) -> np.ndarray:
    u, v, w = Y[:, 0], Y[:, 1], Y[:, 2]
    us = np.where(u < 0, -u, 1.0)
    ws = np.where(w > 0, w, 1.0)
    curved = (u < 0) & (w > 0) & (np.log(us) - v / us <= 1.0 + np.log(ws))
    return curved | ((u == 0) & (v >= 0) & (w >= 0))


def _power_residual_rows(X: np.ndarray, power: np.ndarray, dual: bool) -> np.ndarray:
    """Ray residuals of power cones (``power < 0``: the dual power cone of ``-power``)."""
    a = np.abs(power)
    b = 1.0 - a
    primal = (power >= 0) != dual

    def member(Y: np.ndarray) -> np.ndarray:
        u, v, w = Y[:, 0], Y[:, 1], Y[:, 2]
        up, vp = np.maximum(u, 0.0), np.maximum(v, 0.0)
        g_primal = up**a * vp**b
        fu = np.where(a > 0, (up / np.where(a > 0, a, 1.0)) ** a, 1.0)
        fv = np.where(b > 0, (vp / np.where(b > 0, b, 1.0)) ** b, 1.0)
        g = np.where(primal, g_primal, fu * fv)
        return (u >= 0) & (v >= 0) & (g >= np.abs(w))

    return _ray_residual_rows(X, member, (1.0, 1.0, 0.0))


def _logdet_member(y: np.ndarray) -> bool:
    t, v, lam = float(y[0]), float(y[1]), y[2:]
    if v > 0 and bool(np.all(lam > 0)):
        return t >= -v * (float(np.sum(np.log(lam))) - lam.size * math.log(v))
    return v == 0 and t >= 0 and bool(np.all(lam >= 0))


def _logdet_dual_member(y: np.ndarray) -> bool:
    s, w, lam = float(y[0]), float(y[1]), y[2:]
    if s > 0 and bool(np.all(lam > 0)):
        return w >= -s * float(np.sum(np.log(lam / s))) - lam.size * s
    return s == 0 and w >= 0 and bool(np.all(lam >= 0))
