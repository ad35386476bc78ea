r"""Proximal operators of penalties and indicator functions, their calculus, and the catalogue.

Every operator implements :class:`ProxOperator`:

* ``value(x)``: :math:`f(x)` (``math.inf`` outside an indicator's set; points within a relative
  :data:`FEASIBILITY_RTOL` of it count as inside, so that projections pass their own test);
* ``prox(x, step)``: :math:`\operatorname{prox}_{t f}(x) = \arg\min_u f(u) + \lVert u - x
  \rVert^2 / (2t)`, a new array (the input is never written into);
* ``conjugate_value(z)``: :math:`f^*(z) = \sup_u \langle z, u \rangle - f(u)` in closed form, or
  :class:`NotImplementedError` where there is none (the nonconvex penalties). Composite solvers use
  it for duality gaps: a dual point on the boundary of the dual feasible set (up to rounding) gets
  a finite value, thanks to the same relative tolerance.

Arrays are numpy or cupy (the module is read off ``x``); integer inputs are promoted to float64,
floating inputs keep their dtype. Vector operators act on all entries of ``x`` whatever its shape
(norms are then entrywise, e.g. Frobenius); the group operators, :class:`TV1D` and
:class:`OrthogonalPrecomposition` need 1-D ``x``, :class:`NuclearNorm` and :class:`PSDCone` 2-D.

References
----------
.. [1] N. Parikh and S. Boyd, "Proximal algorithms", Foundations and Trends in Optimization
   1(3):127-239, 2014 (the catalogue of closed forms and the calculus rules).
.. [2] A. Beck, "First-Order Methods in Optimization", SIAM, 2017, chapters 4 and 6 (conjugates
   and prox computations).
.. [3] A. Argyriou, R. Foygel and N. Srebro, "Sparse prediction with the k-support norm",
   NeurIPS 2012 (the envelope of k-sparse vectors used by :class:`GroupSparseEnvelope`).
.. [4] A. Beck and Y. Refael, "Sparse regularization via bidualization", Journal of Global
   Optimization 82:463-482, 2022, and Y. Refael, I. Arbel and W. Huleihel, "Learning k-level
   structured sparse neural networks using group envelope regularization", arXiv:2212.12921
   (the sparse envelope function and its weighted group version).
.. [5] C.-H. Zhang, "Nearly unbiased variable selection under minimax concave penalty", Annals of
   Statistics 38(2):894-942, 2010 (MCP); J. Fan and R. Li, "Variable selection via nonconcave
   penalized likelihood and its oracle properties", JASA 96:1348-1360, 2001 (SCAD).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from workers.solvers.backend import array_namespace
from workers.solvers.prox.projections import (
    Method,
    clip_sum_root,
    project_box,
    project_halfspace,
    project_hyperplane,
    project_l1_ball,
    project_l2_ball,
    project_linf_ball,
    project_psd,
    project_simplex,
    resolve_method,
)
from workers.solvers.prox.tv1d import tv1d_prox

__all__ = [
    "CATALOGUE",
    "FEASIBILITY_RTOL",
    "L0",
    "L1",
    "MCP",
    "SCAD",
    "TV1D",
    "Box",
    "CatalogueEntry",
    "Conjugate",
    "ElasticNet",
    "GroupKSparse",
    "GroupL21",
    "GroupSparseEnvelope",
    "GroupSparsePenalty",
    "HalfSpace",
    "Hinge",
    "Huber",
    "Hyperplane",
    "L1Ball",
    "L2Ball",
    "L2Norm",
    "LinfBall",
    "LinfNorm",
    "NonNeg",
    "NuclearNorm",
    "OrthogonalPrecomposition",
    "PSDCone",
    "ProxOperator",
    "Scaled",
    "Simplex",
    "SquaredL2",
    "SumOfNorms",
    "Translated",
    "WeightedL1",
]

Array = Any

#: Relative tolerance of the membership tests in ``value`` (indicators) and ``conjugate_value``
#: (indicator conjugates): a constraint ``g(x) <= b`` passes when ``g(x) <= b + rtol * scale``,
#: ``scale`` being the magnitude of the quantities compared. Rounding in a projection or in a dual
#: point rescaled onto a norm ball is ~1e-16 relative; 1e-9 leaves room for sums over 1e6 terms.
#: Cone and subspace constraints (``z <= 0``, ``z`` parallel to ``a``, ``z = 0``, ...) have no
#: scale of their own, and a ``z`` formed as a difference of nearly equal arrays is pure rounding
#: noise: for them the scale has a floor of 1 (an absolute tolerance of ``FEASIBILITY_RTOL``).
FEASIBILITY_RTOL = 1e-9
_TINY = float(np.finfo(np.float64).tiny)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _float(xp: Any, x: Any) -> Any:
    a = xp.asarray(x)
    if a.dtype.kind != "f":
        a = a.astype(xp.float64)
    return a


def _prepare(x: Any) -> tuple[Any, Any]:
    xp = array_namespace(x)
    return xp, _float(xp, x)


def _step(step: float) -> float:
    t = float(step)
    if not (t > 0.0 and math.isfinite(t)):
        raise ValueError(f"step must be finite and > 0, got {step}")
    return t


def _scalar(name: str, value: float, *, positive: bool = False, allow_inf: bool = False) -> float:
    v = float(value)
    ok = v > 0.0 if positive else v >= 0.0
    if not ok or (math.isinf(v) and not allow_inf) or math.isnan(v):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} and finite, got {value}")
    return v


def _within(quantity: float, bound: float, *scales: float) -> bool:
    """``quantity <= bound`` up to ``FEASIBILITY_RTOL`` times the largest scale involved."""
    scale = max([abs(bound), *(abs(s) for s in scales if math.isfinite(s)), _TINY])
    return quantity <= bound + FEASIBILITY_RTOL * scale


def _indicator(inside: bool) -> float:
    return 0.0 if inside else math.inf


def _soft(xp: Any, x: Any, tau: Any) -> Any:
    return xp.sign(x) * xp.maximum(xp.abs(x) - tau, 0.0)


def _amax_abs(xp: Any, x: Any) -> float:
    return float(xp.max(xp.abs(x))) if x.size else 0.0


def _norm2(xp: Any, x: Any) -> float:
    return float(xp.sqrt(xp.sum(x * x)))


class _HostArray:
    """A parameter array kept on the host, with cached copies per array module and dtype.

    Operators are built once (from JSON, on the host) and applied many times, possibly to cupy
    arrays: the device copy is made on first use, not at every prox.
    """

    def __init__(self, value: Any, name: str, *, dtype: Any = np.float64) -> None:
        host = np.asarray(value, dtype=dtype)
        if host.dtype.kind == "f" and np.isnan(host).any():
            raise ValueError(f"{name} contains NaN")
        self.host = host
        self._copies: dict[tuple[str, str], Any] = {}

    def on(self, xp: Any, dtype: Any = None) -> Any:
        dt = np.dtype(self.host.dtype if dtype is None else dtype)
        key = (xp.__name__, dt.str)
        arr = self._copies.get(key)
        if arr is None:
            arr = xp.asarray(self.host.astype(dt, copy=False))
            self._copies[key] = arr
        return arr


class _Groups:
    """A partition of ``range(n)`` given by a label per coordinate (labels sorted -> 0..m-1)."""

    def __init__(self, groups: Any) -> None:
        labels = np.asarray(groups)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError("groups must be a non-empty 1-D array of integer labels")
        if labels.dtype.kind not in "iu":
            if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
            else:
                raise ValueError(f"groups must hold integer labels, got dtype {labels.dtype}")
        _, ids = np.unique(labels, return_inverse=True)
        self.n = int(labels.size)
        self.ids = _HostArray(ids.reshape(-1), "groups", dtype=np.int64)
        self.m = int(ids.max()) + 1
        self.sizes = np.bincount(ids.reshape(-1), minlength=self.m).astype(np.float64)

    def check(self, x: Any) -> None:
        if x.ndim != 1 or x.shape[0] != self.n:
            raise ValueError(f"expected a 1-D array of length {self.n}, got shape {x.shape}")

    def sq_norms(self, xp: Any, x: Any) -> Any:
        """``||x_g||^2`` for every group, shape (m,), float64."""
        ids = self.ids.on(xp)
        return xp.bincount(ids, weights=(x * x).astype(xp.float64), minlength=self.m)

    def expand(self, xp: Any, per_group: Any) -> Any:
        return per_group[self.ids.on(xp)]

    def weights(self, weights: Any, default: str) -> _HostArray:
        if weights is None:
            w = np.sqrt(self.sizes) if default == "sqrt_size" else np.ones(self.m)
        else:
            w = np.asarray(weights, dtype=np.float64).reshape(-1)
            if w.shape != (self.m,):
                raise ValueError(f"weights must have one entry per group ({self.m}), got {w.size}")
        return _HostArray(w, "weights")


# --------------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------------


class ProxOperator(ABC):
    """A closed function with a computable proximal operator.

    Subclasses set the class attributes ``name`` (the catalogue key) and ``convex``. The calculus
    wrappers (:class:`Scaled`, :class:`Translated`, :class:`OrthogonalPrecomposition`) inherit
    convexity from the wrapped function and store it per instance.
    """

    name: ClassVar[str]
    convex: ClassVar[bool]

    @abstractmethod
    def value(self, x: Array) -> float:
        """:math:`f(x)` as a Python float (``math.inf`` outside the domain)."""

    @abstractmethod
    def prox(self, x: Array, step: float = 1.0) -> Array:
        r""":math:`\arg\min_u f(u) + \lVert u - x \rVert^2 / (2\,\mathrm{step})`.

        Returns a new array; never mutates ``x``.
        """

    def conjugate_value(self, z: Array) -> float:
        """:math:`f^*(z)`; raises :class:`NotImplementedError` where there is no closed form."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form conjugate")

    def _set_convex(self, convex: bool) -> None:
        # `convex` is a class attribute for the leaf operators; the calculus wrappers depend on
        # the wrapped function, so they shadow it on the instance (not expressible as a ClassVar).
        self.__dict__["convex"] = convex

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------------------------------
# Separable and norm penalties
# --------------------------------------------------------------------------------------------------


class L1(ProxOperator):
    r""":math:`f(x) = \lambda \lVert x \rVert_1`; prox is the soft threshold at :math:`t\lambda`;
    :math:`f^* = \iota_{\{\lVert z \rVert_\infty \le \lambda\}}`."""

    name = "l1"
    convex = True

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.lam * float(xp.sum(xp.abs(x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        return _soft(xp, x, _step(step) * self.lam)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return _indicator(_within(_amax_abs(xp, z), self.lam))

    def __repr__(self) -> str:
        return f"L1(lam={self.lam})"


class WeightedL1(ProxOperator):
    r""":math:`f(x) = \sum_i w_i |x_i|` (``w >= 0``, broadcast against ``x``); prox soft-thresholds
    coordinate ``i`` at :math:`t w_i`; :math:`f^* = \iota_{\{|z_i| \le w_i\}}`."""

    name = "weighted_l1"
    convex = True

    def __init__(self, weights: Any) -> None:
        self.weights = _HostArray(weights, "weights")
        if np.any(self.weights.host < 0) or not np.all(np.isfinite(self.weights.host)):
            raise ValueError("weights must be finite and >= 0")

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return float(xp.sum(self.weights.on(xp) * xp.abs(x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        return _soft(xp, x, _step(step) * self.weights.on(xp, x.dtype))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        w = self.weights.on(xp)
        excess = float(xp.max(xp.abs(z) - w)) if z.size else 0.0
        scale = max(float(self.weights.host.max(initial=0.0)), _amax_abs(xp, z))
        return _indicator(_within(excess, 0.0, scale))


class ElasticNet(ProxOperator):
    r""":math:`f(x) = \lambda \lVert x \rVert_1 + \tfrac{\mu}{2} \lVert x \rVert_2^2` (``l2`` =
    :math:`\mu`); prox :math:`S_{t\lambda}(x) / (1 + t\mu)`;
    :math:`f^*(z) = \lVert (|z| - \lambda)_+ \rVert^2 / (2\mu)` (the indicator of the
    :math:`\ell_\infty` ball when :math:`\mu = 0`)."""

    name = "elastic_net"
    convex = True

    def __init__(self, lam: float = 1.0, l2: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)
        self.l2 = _scalar("l2", l2)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.lam * float(xp.sum(xp.abs(x))) + 0.5 * self.l2 * float(xp.sum(x * x))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        t = _step(step)
        return _soft(xp, x, t * self.lam) / (1.0 + t * self.l2)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        if self.l2 == 0.0:
            return _indicator(_within(_amax_abs(xp, z), self.lam))
        excess = xp.maximum(xp.abs(z) - self.lam, 0.0)
        return float(xp.sum(excess * excess)) / (2.0 * self.l2)

    def __repr__(self) -> str:
        return f"ElasticNet(lam={self.lam}, l2={self.l2})"


class L2Norm(ProxOperator):
    r""":math:`f(x) = \lambda \lVert x \rVert_2`; prox is the block soft threshold
    :math:`(1 - t\lambda / \lVert x \rVert)_+ x`; :math:`f^* = \iota_{\{\lVert z \rVert_2 \le
    \lambda\}}`."""

    name = "l2"
    convex = True

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.lam * _norm2(xp, x)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        tau = _step(step) * self.lam
        norm = _norm2(xp, x)
        if norm <= tau:
            return xp.zeros_like(x)
        return x * (1.0 - tau / norm)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return _indicator(_within(_norm2(xp, z), self.lam))

    def __repr__(self) -> str:
        return f"L2Norm(lam={self.lam})"


class SquaredL2(ProxOperator):
    r""":math:`f(x) = \tfrac{\lambda}{2} \lVert x \rVert_2^2`; prox :math:`x / (1 + t\lambda)`;
    :math:`f^*(z) = \lVert z \rVert^2 / (2\lambda)` (:math:`\iota_{\{0\}}` for
    :math:`\lambda = 0`)."""

    name = "squared_l2"
    convex = True

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return 0.5 * self.lam * float(xp.sum(x * x))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        return x / (1.0 + _step(step) * self.lam)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        if self.lam == 0.0:
            return _indicator(_within(_amax_abs(xp, z), 0.0, 1.0))
        return float(xp.sum(z * z)) / (2.0 * self.lam)

    def __repr__(self) -> str:
        return f"SquaredL2(lam={self.lam})"


class LinfNorm(ProxOperator):
    r""":math:`f(x) = \lambda \lVert x \rVert_\infty`; by Moreau,
    :math:`\operatorname{prox}_{tf}(x) = x - P_{\{\lVert u \rVert_1 \le t\lambda\}}(x)`;
    :math:`f^* = \iota_{\{\lVert z \rVert_1 \le \lambda\}}`."""

    name = "linf"
    convex = True

    def __init__(self, lam: float = 1.0, method: Method = "auto") -> None:
        self.lam = _scalar("lam", lam)
        resolve_method(method, np)
        self.method: Method = method

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.lam * _amax_abs(xp, x)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        return x - project_l1_ball(x, _step(step) * self.lam, self.method)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return _indicator(_within(float(xp.sum(xp.abs(z))), self.lam))

    def __repr__(self) -> str:
        return f"LinfNorm(lam={self.lam})"


class GroupL21(ProxOperator):
    r""":math:`f(x) = \lambda \sum_g w_g \lVert x_g \rVert_2` over a partition into groups.

    ``groups[i]`` is the integer label of coordinate ``i``; ``weights[j]`` belongs to the ``j``-th
    smallest label (label ``j`` when labels are ``0..m-1``), default :math:`\sqrt{|g|}`. Weights
    may be 0 (unpenalised groups). Prox: the block soft threshold per group at
    :math:`t \lambda w_g`; :math:`f^* = \iota_{\{\lVert z_g \rVert \le \lambda w_g \,\forall g\}}`.
    """

    name = "group_l1"
    convex = True

    def __init__(self, lam: float, groups: Any, weights: Any = None) -> None:
        self.lam = _scalar("lam", lam)
        self.groups = _Groups(groups)
        self.weights = self.groups.weights(weights, "sqrt_size")
        if np.any(self.weights.host < 0) or not np.all(np.isfinite(self.weights.host)):
            raise ValueError("weights must be finite and >= 0")

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        self.groups.check(x)
        norms = xp.sqrt(self.groups.sq_norms(xp, x))
        return self.lam * float(xp.sum(self.weights.on(xp) * norms))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        self.groups.check(x)
        tau = (_step(step) * self.lam) * self.weights.on(xp)
        norms = xp.sqrt(self.groups.sq_norms(xp, x))
        safe = xp.where(norms > 0.0, norms, 1.0)
        factor = xp.where(norms > tau, 1.0 - tau / safe, 0.0)
        return x * self.groups.expand(xp, factor).astype(x.dtype)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        self.groups.check(z)
        norms = xp.sqrt(self.groups.sq_norms(xp, z))
        bound = self.lam * self.weights.on(xp)
        excess = float(xp.max(norms - bound))
        scale = max(float(xp.max(norms)), float(xp.max(bound)))
        return _indicator(_within(excess, 0.0, scale))


class SumOfNorms(ProxOperator):
    r""":math:`f(x) = \lambda \sum_b \lVert x_b \rVert_2` over disjoint index blocks ``blocks``.

    Coordinates outside every block are not penalised (so :math:`f^*` requires :math:`z = 0`
    there). Prox, conjugate: as :class:`GroupL21` with unit weights. The blocks are validated
    (integer, non-negative, no index in two blocks); ``x`` must be 1-D and cover every index.
    """

    name = "sum_of_norms"
    convex = True

    def __init__(self, lam: float, blocks: Sequence[Any]) -> None:
        self.lam = _scalar("lam", lam)
        arrays = [np.asarray(b).reshape(-1) for b in blocks]
        if not arrays:
            raise ValueError("blocks must hold at least one index array")
        for b in arrays:
            if b.size and b.dtype.kind not in "iu":
                raise ValueError(f"block indices must be integers, got dtype {b.dtype}")
        flat = np.concatenate([b.astype(np.int64) for b in arrays])
        if flat.size and flat.min() < 0:
            raise ValueError("block indices must be >= 0")
        if np.unique(flat).size != flat.size:
            raise ValueError("blocks must be disjoint (an index appears twice)")
        self.blocks = [b.astype(np.int64) for b in arrays]
        self._span = int(flat.max()) + 1 if flat.size else 0
        self._by_size: dict[int, GroupL21] = {}

    def _as_groups(self, x: Any) -> GroupL21:
        if x.ndim != 1:
            raise ValueError(f"SumOfNorms acts on 1-D arrays, got shape {x.shape}")
        n = int(x.shape[0])
        op = self._by_size.get(n)
        if op is None:
            if n < self._span:
                raise ValueError(f"a block refers to index {self._span - 1} but x has length {n}")
            nb = len(self.blocks)
            labels = np.full(n, nb, dtype=np.int64)  # label nb: the unpenalised coordinates
            for j, b in enumerate(self.blocks):
                labels[b] = j
            present = np.unique(labels)
            weights = np.where(present < nb, 1.0, 0.0)
            op = GroupL21(self.lam, labels, weights)
            self._by_size[n] = op
        return op

    def value(self, x: Array) -> float:
        _, x = _prepare(x)
        return self._as_groups(x).value(x)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _, x = _prepare(x)
        return self._as_groups(x).prox(x, step)

    def conjugate_value(self, z: Array) -> float:
        _, z = _prepare(z)
        return self._as_groups(z).conjugate_value(z)


# --------------------------------------------------------------------------------------------------
# Group sparsity with a budget of k groups
# --------------------------------------------------------------------------------------------------


class _GroupBudget:
    """What the three k-group operators share: validation, the envelope's value and the
    prox of the envelope plus a separable quadratic."""

    def __init__(self, k: int, groups: Any, weights: Any, method: Method) -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k}")
        self.k = int(k)
        self.groups = _Groups(groups)
        self.weights = self.groups.weights(weights, "ones")
        w = self.weights.host
        if np.any(w <= 0) or not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite and > 0")
        resolve_method(method, np)
        self.method: Method = method

    def envelope_value(self, xp: Any, sq_norms: Any) -> tuple[float, float]:
        r"""``(F(x), q(x))`` with ``F`` the envelope and ``q = 0.5 sum_g w_g ||x_g||^2``.

        ``F = min_{theta in Theta} 0.5 sum_g rho_g^2 / theta_g`` with ``rho_g^2 = w_g ||x_g||^2``;
        the minimiser is ``theta_g = min(alpha rho_g, 1)`` with ``sum theta = k``, which turns
        ``rho_g^2 / theta_g`` into ``max(rho_g / alpha, rho_g^2)`` (no division by 0).
        """
        rho2 = self.weights.on(xp) * sq_norms
        q = 0.5 * float(xp.sum(rho2))
        rho = xp.sqrt(rho2)
        active = rho[rho > 0.0]
        if int(active.size) <= self.k:
            return q, q
        ones = xp.ones_like(active)
        alpha = clip_sum_root(active, xp.zeros_like(active), ones, float(self.k), self.method)
        return 0.5 * float(xp.sum(xp.maximum(active / alpha, active * active))), q

    def shrink(self, xp: Any, x: Any, bw: Any, s: Any) -> Any:
        r"""The minimiser of :math:`\beta F(u) + \tfrac12 \sum_g s_g \lVert u_g \rVert^2 -
        \langle u, x \rangle` for ``bw`` :math:`= \beta w_g` and ``s`` :math:`> 0` per group:
        each group keeps its direction, :math:`u_g = x_g \theta_g / (\beta w_g + s_g
        \theta_g)` with :math:`\theta_g = \operatorname{clip}((\alpha \lVert x_g \rVert
        \sqrt{\beta w_g} - \beta w_g) / s_g, 0, 1)` and :math:`\alpha` fixed by
        :math:`\sum_g \theta_g = k`, or :math:`\theta = 1` when at most ``k`` groups are
        non-zero."""
        a = xp.sqrt(self.groups.sq_norms(xp, x))
        nonzero = a > 0.0
        if int(xp.sum(nonzero)) <= self.k:
            theta = xp.ones_like(a)
        else:
            c = a[nonzero] * xp.sqrt(bw[nonzero]) / s[nonzero]
            d = bw[nonzero] / s[nonzero]
            alpha = clip_sum_root(c, d, xp.ones_like(c), float(self.k), self.method)
            theta = xp.clip((alpha * a * xp.sqrt(bw) - bw) / s, 0.0, 1.0)
        factor = theta / (bw + s * theta)
        return x * self.groups.expand(xp, factor).astype(x.dtype)


class GroupSparseEnvelope(ProxOperator):
    r"""Convex envelope of a weighted squared norm restricted to vectors with at most ``k``
    non-zero groups (the weighted group sparse envelope; convex).

    With groups :math:`g` (labels as in :class:`GroupL21`), weights :math:`w_g > 0` (default 1)
    and :math:`C_k = \{x : \#\{g : x_g \ne 0\} \le k\}`, this is the biconjugate

    .. math::

        F = \Bigl(\tfrac12 \sum_g w_g \lVert x_g \rVert^2 + \iota_{C_k}\Bigr)^{**}, \qquad
        F(x) = \min_{\theta \in [0,1]^m,\ \sum_g \theta_g \le k}
            \tfrac12 \sum_g \frac{w_g \lVert x_g \rVert^2}{\theta_g},

    i.e. half the squared k-support norm of the vector :math:`(\sqrt{w_g}\lVert x_g \rVert)_g`
    (Argyriou et al. 2012; the group sparse envelope of Beck & Refael 2022 and Refael et al.). It
    equals :math:`\tfrac12 \sum_g w_g \lVert x_g \rVert^2` exactly on :math:`C_k` and exceeds it
    elsewhere. Its conjugate is half the sum of the ``k`` largest
    :math:`\lVert z_g \rVert^2 / w_g`.

    **Prox.** The prox keeps each group's direction; minimising first over the group magnitudes
    for fixed :math:`\theta` gives :math:`u_g = x_g \theta_g / (\theta_g + t w_g)` and leaves a
    separable concave problem in :math:`\theta` whose KKT point is
    :math:`\theta_g = \operatorname{clip}(\alpha \lVert x_g \rVert \sqrt{t w_g} - t w_g, 0, 1)`
    with :math:`\alpha` fixed by :math:`\sum_g \theta_g = k` (when more than ``k`` groups are
    non-zero; otherwise :math:`\theta = 1`). That scalar equation is solved exactly by
    :func:`~workers.solvers.prox.projections.clip_sum_root`: in expected :math:`O(m)` after the
    :math:`O(n)` group norms with ``method="linear"`` (host numba kernel), by sorting with
    ``"sort"`` (vectorised, GPU). ``x`` must be 1-D.
    """

    name = "group_sparse_envelope"
    convex = True

    def __init__(
        self, k: int, groups: Any, weights: Any = None, lam: float = 1.0, method: Method = "auto"
    ) -> None:
        self.budget = _GroupBudget(k, groups, weights, method)
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        self.budget.groups.check(x)
        envelope, _ = self.budget.envelope_value(xp, self.budget.groups.sq_norms(xp, x))
        return self.lam * envelope

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        b = self.budget
        b.groups.check(x)
        tw = (_step(step) * self.lam) * b.weights.on(xp)
        return b.shrink(xp, x, tw, xp.ones_like(tw))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        b = self.budget
        b.groups.check(z)
        if self.lam == 0.0:
            return _indicator(_within(_amax_abs(xp, z), 0.0, 1.0))
        # (lam F)^*(z) = lam F^*(z / lam)
        sigma2 = b.groups.sq_norms(xp, z) / (b.weights.on(xp) * self.lam * self.lam)
        top = xp.sort(sigma2)[-b.k :]
        return 0.5 * self.lam * float(xp.sum(top))

    def __repr__(self) -> str:
        return f"GroupSparseEnvelope(k={self.budget.k}, m={self.budget.groups.m}, lam={self.lam})"


class GroupSparsePenalty(ProxOperator):
    r"""Exact group-sparsity penalty :math:`h = \lambda\,(F - \tfrac12 \sum_g w_g
    \lVert x_g \rVert^2)` with :math:`F` the envelope of :class:`GroupSparseEnvelope`
    (nonconvex, :math:`h \ge 0`, and :math:`h(x) = 0` exactly when at most ``k`` groups are
    non-zero: the "envelope minus its quadratic" form of the sparse envelope regulariser).

    **Prox** (for :math:`\beta = t\lambda` with :math:`\beta \max_g w_g < 1`, else
    :class:`ValueError`): the prox problem is :math:`\beta F(u) + \tfrac12 \sum_g s_g
    \lVert u_g \rVert^2 - \langle u, x \rangle` with :math:`s_g = 1 - \beta w_g > 0`, which is
    *convex*, so its global minimiser is computed exactly as for the envelope:
    :math:`u_g = x_g \theta_g / (\beta w_g + s_g \theta_g)` with :math:`\theta_g =
    \operatorname{clip}((\alpha \lVert x_g \rVert \sqrt{\beta w_g} - \beta w_g) / s_g, 0, 1)`
    and :math:`\sum_g \theta_g = k`. Selected groups (:math:`\theta_g = 1`) are returned
    unshrunk. No closed-form conjugate. ``x`` must be 1-D.
    """

    name = "group_sparse_penalty"
    convex = False

    def __init__(
        self, k: int, groups: Any, weights: Any = None, lam: float = 1.0, method: Method = "auto"
    ) -> None:
        self.budget = _GroupBudget(k, groups, weights, method)
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        self.budget.groups.check(x)
        envelope, q = self.budget.envelope_value(xp, self.budget.groups.sq_norms(xp, x))
        return self.lam * max(envelope - q, 0.0)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        b = self.budget
        b.groups.check(x)
        beta = _step(step) * self.lam
        if beta * float(b.weights.host.max()) >= 1.0:
            raise ValueError(
                "GroupSparsePenalty.prox needs step * lam * max(weights) < 1 "
                f"(got {beta * float(b.weights.host.max())}): the prox problem is unbounded"
            )
        bw = beta * b.weights.on(xp)
        return b.shrink(xp, x, bw, 1.0 - bw)


class GroupKSparse(ProxOperator):
    r"""Indicator of :math:`C_k = \{x : \text{at most } k \text{ groups non-zero}\}`
    (nonconvex). The projection keeps the ``k`` groups of largest norm (ties broken by the
    sort). :math:`f^* = \iota_{\{0\}}` (:math:`C_k` contains a line along every coordinate).
    ``x`` must be 1-D."""

    name = "group_k_sparse"
    convex = False

    def __init__(self, k: int, groups: Any) -> None:
        self.budget = _GroupBudget(k, groups, None, "auto")

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        b = self.budget
        b.groups.check(x)
        norms = xp.sqrt(b.groups.sq_norms(xp, x))
        cut = FEASIBILITY_RTOL * float(xp.max(norms))
        return _indicator(int(xp.sum(norms > cut)) <= b.k)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        b = self.budget
        b.groups.check(x)
        _step(step)
        if b.k >= b.groups.m:
            return x.copy()
        sq = b.groups.sq_norms(xp, x)
        keep = xp.zeros(b.groups.m, dtype=x.dtype)
        order = xp.argsort(-sq, kind="stable") if xp is np else xp.argsort(-sq)
        keep[order[: b.k]] = 1.0
        return x * b.groups.expand(xp, keep)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return _indicator(_within(_amax_abs(xp, z), 0.0, 1.0))


# --------------------------------------------------------------------------------------------------
# Matrix penalties
# --------------------------------------------------------------------------------------------------


def _matrix(x: Any, what: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{what} acts on 2-D arrays, got shape {x.shape}")


class NuclearNorm(ProxOperator):
    r""":math:`f(X) = \lambda \lVert X \rVert_* = \lambda \sum_i \sigma_i(X)`; prox is singular
    value thresholding :math:`U \operatorname{diag}((\sigma - t\lambda)_+) V^\top`;
    :math:`f^* = \iota_{\{\lVert Z \rVert_2 \le \lambda\}}` (spectral norm)."""

    name = "nuclear"
    convex = True

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        _matrix(x, "NuclearNorm")
        return self.lam * float(xp.sum(xp.linalg.svd(x, compute_uv=False)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        _matrix(x, "NuclearNorm")
        tau = _step(step) * self.lam
        u, s, vt = xp.linalg.svd(x, full_matrices=False)
        return (u * xp.maximum(s - tau, 0.0)) @ vt

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        _matrix(z, "NuclearNorm")
        s = xp.linalg.svd(z, compute_uv=False)
        return _indicator(_within(float(s.max()) if s.size else 0.0, self.lam))

    def __repr__(self) -> str:
        return f"NuclearNorm(lam={self.lam})"


# --------------------------------------------------------------------------------------------------
# Smooth-ish elementwise losses used as penalties
# --------------------------------------------------------------------------------------------------


class Huber(ProxOperator):
    r"""Elementwise Huber function :math:`\sum_i h_\delta(x_i)`, :math:`h_\delta(s) = s^2/2` for
    :math:`|s| \le \delta`, :math:`\delta |s| - \delta^2/2` beyond. Prox: :math:`x / (1 + t)` where
    :math:`|x| \le \delta (1 + t)`, else :math:`x - t\delta \operatorname{sign}(x)`;
    :math:`f^*(z) = \lVert z \rVert^2 / 2` on :math:`\{\lVert z \rVert_\infty \le \delta\}`."""

    name = "huber"
    convex = True

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = _scalar("delta", delta, positive=True)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        a = xp.abs(x)
        d = self.delta
        return float(xp.sum(xp.where(a <= d, 0.5 * x * x, d * a - 0.5 * d * d)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        t = _step(step)
        inner = xp.abs(x) <= self.delta * (1.0 + t)
        return xp.where(inner, x / (1.0 + t), x - (t * self.delta) * xp.sign(x))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        if not _within(_amax_abs(xp, z), self.delta):
            return math.inf
        return 0.5 * float(xp.sum(z * z))

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"


class Hinge(ProxOperator):
    r""":math:`f(x) = \sum_i \max(0, 1 - x_i)`. Prox: :math:`x + t` below :math:`1 - t`, 1 on
    :math:`[1 - t, 1]`, :math:`x` above 1. :math:`f^*(z) = \sum_i z_i` on :math:`[-1, 0]^n`."""

    name = "hinge"
    convex = True

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return float(xp.sum(xp.maximum(1.0 - x, 0.0)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        t = _step(step)
        return xp.where(x < 1.0 - t, x + t, xp.where(x > 1.0, x, xp.ones_like(x)))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        if not z.size:
            return 0.0
        inside = _within(float(xp.max(z)), 0.0, 1.0) and _within(-float(xp.min(z)), 1.0)
        return float(xp.sum(z)) if inside else math.inf


# --------------------------------------------------------------------------------------------------
# Nonconvex sparse penalties
# --------------------------------------------------------------------------------------------------


def _best_of(xp: Any, candidates: list[Any], objective: Callable[[Any], Any]) -> Any:
    """Elementwise the candidate of least objective (the first one on ties)."""
    stacked = xp.stack(candidates)
    values = xp.stack([objective(c) for c in candidates])
    pick = xp.argmin(values, axis=0)
    return xp.take_along_axis(stacked, pick[None, ...], axis=0)[0]


class MCP(ProxOperator):
    r"""Minimax concave penalty :math:`\sum_i p(x_i)`, :math:`p(s) = \lambda |s| - s^2 / (2\gamma)`
    for :math:`|s| \le \gamma\lambda`, :math:`\gamma\lambda^2/2` beyond (nonconvex, ``gamma > 1``).

    For ``step < gamma`` the prox objective is strongly convex and the prox is the firm threshold:
    0 for :math:`|x| \le t\lambda`, :math:`\operatorname{sign}(x)(|x| - t\lambda)/(1 - t/\gamma)` up
    to :math:`|x| = \gamma\lambda`, then :math:`x`. For larger steps the objective is concave on
    :math:`[0, \gamma\lambda]`, and the global minimiser is the better of 0 and
    :math:`\operatorname{sign}(x)\max(|x|, \gamma\lambda)` (0 on ties).
    """

    name = "mcp"
    convex = False

    def __init__(self, lam: float = 1.0, gamma: float = 3.0) -> None:
        self.lam = _scalar("lam", lam)
        self.gamma = _scalar("gamma", gamma, positive=True)
        if not self.gamma > 1.0:
            raise ValueError(f"gamma must be > 1, got {gamma}")

    def _penalty(self, xp: Any, x: Any) -> Any:
        a = xp.abs(x)
        lam, g = self.lam, self.gamma
        return xp.where(a <= g * lam, lam * a - a * a / (2.0 * g), 0.5 * g * lam * lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return float(xp.sum(self._penalty(xp, x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        t = _step(step)
        lam, g = self.lam, self.gamma
        a = xp.abs(x)
        if t < g:
            firm = xp.sign(x) * xp.maximum(a - t * lam, 0.0) / (1.0 - t / g)
            return xp.where(a > g * lam, x, firm)

        def objective(u: Any) -> Any:
            return t * self._penalty(xp, u) + 0.5 * (u - x) ** 2

        far = xp.sign(x) * xp.maximum(a, g * lam)
        return _best_of(xp, [xp.zeros_like(x), far], objective)

    def __repr__(self) -> str:
        return f"MCP(lam={self.lam}, gamma={self.gamma})"


class SCAD(ProxOperator):
    r"""Smoothly clipped absolute deviation :math:`\sum_i p(x_i)` (nonconvex, ``gamma > 2``):
    :math:`p(s) = \lambda|s|` for :math:`|s| \le \lambda`,
    :math:`(2\gamma\lambda|s| - s^2 - \lambda^2) / (2(\gamma - 1))` up to :math:`\gamma\lambda`,
    :math:`\lambda^2(\gamma + 1)/2` beyond.

    For ``step < gamma - 1`` the prox objective is strongly convex and (generalising Fan & Li's
    ``t = 1`` rule) the prox is :math:`S_{t\lambda}(x)` for :math:`|x| \le (1 + t)\lambda`,
    :math:`((\gamma - 1)x - \operatorname{sign}(x) t\gamma\lambda) / (\gamma - 1 - t)` up to
    :math:`|x| = \gamma\lambda`, then :math:`x`. For larger steps the middle piece is concave and
    the global minimiser is the better of the minimisers on :math:`[0, \lambda]` and on
    :math:`[\gamma\lambda, \infty)` (the soft threshold clipped at :math:`\lambda`, and
    :math:`\max(|x|, \gamma\lambda)`), the first on ties.
    """

    name = "scad"
    convex = False

    def __init__(self, lam: float = 1.0, gamma: float = 3.7) -> None:
        self.lam = _scalar("lam", lam)
        self.gamma = _scalar("gamma", gamma, positive=True)
        if not self.gamma > 2.0:
            raise ValueError(f"gamma must be > 2, got {gamma}")

    def _penalty(self, xp: Any, x: Any) -> Any:
        a = xp.abs(x)
        lam, g = self.lam, self.gamma
        middle = (2.0 * g * lam * a - a * a - lam * lam) / (2.0 * (g - 1.0))
        return xp.where(
            a <= lam, lam * a, xp.where(a <= g * lam, middle, 0.5 * lam * lam * (g + 1.0))
        )

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return float(xp.sum(self._penalty(xp, x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        t = _step(step)
        lam, g = self.lam, self.gamma
        a = xp.abs(x)
        sgn = xp.sign(x)
        if t < g - 1.0:
            soft = sgn * xp.maximum(a - t * lam, 0.0)
            middle = ((g - 1.0) * x - sgn * (t * g * lam)) / (g - 1.0 - t)
            return xp.where(a <= (1.0 + t) * lam, soft, xp.where(a <= g * lam, middle, x))

        def objective(u: Any) -> Any:
            return t * self._penalty(xp, u) + 0.5 * (u - x) ** 2

        # The middle piece is concave (linear when t = gamma - 1), so its minimum is at lam or
        # gamma * lam, each no better than the minimiser of the neighbouring piece: the
        # minimiser on [0, lam] (a convex piece) or the one on [gamma * lam, inf).
        near = sgn * xp.clip(a - t * lam, 0.0, lam)
        far = sgn * xp.maximum(a, g * lam)
        return _best_of(xp, [near, far], objective)

    def __repr__(self) -> str:
        return f"SCAD(lam={self.lam}, gamma={self.gamma})"


class L0(ProxOperator):
    r""":math:`f(x) = \lambda \lVert x \rVert_0` (nonconvex); prox is the hard threshold: keep
    :math:`x_i` when :math:`|x_i| > \sqrt{2t\lambda}`, else 0 (both minimise on equality).
    :math:`f^* = \iota_{\{0\}}`."""

    name = "l0"
    convex = False

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.lam * float(xp.sum(x != 0))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        threshold = math.sqrt(2.0 * _step(step) * self.lam)
        return xp.where(xp.abs(x) > threshold, x, xp.zeros_like(x))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return _indicator(_within(_amax_abs(xp, z), 0.0, 1.0))

    def __repr__(self) -> str:
        return f"L0(lam={self.lam})"


# --------------------------------------------------------------------------------------------------
# Indicators of convex sets (prox = projection, whatever the step)
# --------------------------------------------------------------------------------------------------


class Box(ProxOperator):
    r"""Indicator of :math:`\{l \le x \le u\}` (scalars or arrays broadcast against ``x``,
    infinite bounds allowed). :math:`f^*(z) = \sum_i \max(u_i z_i, l_i z_i)` (the support
    function; :math:`+\infty` where an infinite bound meets a non-zero :math:`z_i` of its sign)."""

    name = "box"
    convex = True

    def __init__(self, lower: Any = -math.inf, upper: Any = math.inf) -> None:
        self.lower = _HostArray(lower, "lower")
        self.upper = _HostArray(upper, "upper")
        if np.any(self.lower.host > self.upper.host):
            raise ValueError("lower must be <= upper")

    def _scale(self, xp: Any, x: Any) -> float:
        finite = [b.host[np.isfinite(b.host)] for b in (self.lower, self.upper)]
        bound = max((float(np.abs(f).max()) for f in finite if f.size), default=0.0)
        return max(bound, _amax_abs(xp, x))

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        lo, up = self.lower.on(xp), self.upper.on(xp)
        if not x.size:
            return 0.0
        violation = float(xp.max(xp.maximum(lo - x, x - up)))
        return _indicator(_within(violation, 0.0, self._scale(xp, x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        _step(step)
        return project_box(x, self.lower.on(xp, x.dtype), self.upper.on(xp, x.dtype))

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        lo, up = self.lower.on(xp), self.upper.on(xp)
        # Against an infinite bound a component of z is a cone constraint (z_i <= 0 under
        # upper = inf): rounding noise there is forgiven and the component counts as 0.
        noise = FEASIBILITY_RTOL * max(_amax_abs(xp, z), 1.0)
        z = xp.where(
            ((z > 0.0) & xp.isinf(up)) | ((z < 0.0) & xp.isinf(lo)),
            xp.where(xp.abs(z) <= noise, 0.0, z),
            z,
        )
        with np.errstate(invalid="ignore"):  # 0 * inf in the branch that where() discards
            terms = xp.where(z > 0.0, z * up, xp.where(z < 0.0, z * lo, 0.0))
        return float(xp.sum(terms))


class NonNeg(ProxOperator):
    r"""Indicator of the nonnegative orthant; prox :math:`\max(x, 0)`;
    :math:`f^* = \iota_{\{z \le 0\}}`."""

    name = "nonneg"
    convex = True

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        if not x.size:
            return 0.0
        return _indicator(_within(-float(xp.min(x)), 0.0, _amax_abs(xp, x)))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        _step(step)
        return xp.maximum(x, 0.0)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        if not z.size:
            return 0.0
        return _indicator(_within(float(xp.max(z)), 0.0, _amax_abs(xp, z), 1.0))


class Simplex(ProxOperator):
    r"""Indicator of :math:`\Delta_r = \{x \ge 0, \sum_i x_i = r\}` (all entries of ``x``).

    Prox: the projection (= sparsemax for ``r = 1``), by sorting (``method="sort"``) or by the
    expected linear-time breakpoint search (``"linear"``); ``"auto"`` picks the latter on numpy.
    :math:`f^*(z) = r \max_i z_i`.
    """

    name = "simplex"
    convex = True

    def __init__(self, radius: float = 1.0, method: Method = "auto") -> None:
        self.radius = _scalar("radius", radius, positive=True)
        resolve_method(method, np)
        self.method: Method = method

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        l1 = float(xp.sum(xp.abs(x)))
        tol_scale = max(self.radius, l1)
        nonneg = _within(-float(xp.min(x)), 0.0, tol_scale)
        total = float(xp.sum(x))
        return _indicator(nonneg and _within(abs(total - self.radius), 0.0, tol_scale))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _step(step)
        return project_simplex(x, self.radius, self.method)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return self.radius * float(xp.max(z))

    def __repr__(self) -> str:
        return f"Simplex(radius={self.radius}, method={self.method!r})"


class _NormBall(ProxOperator):
    r"""Indicator of the ball :math:`\{\lVert x \rVert \le r\}` of a norm: its prox is the
    projection onto the ball and its conjugate :math:`r \lVert z \rVert_*` (the dual norm)."""

    convex = True

    def __init__(self, radius: float = 1.0) -> None:
        self.radius = _scalar("radius", radius)

    @abstractmethod
    def _norm(self, xp: Any, x: Any) -> float: ...

    @abstractmethod
    def _dual_norm(self, xp: Any, z: Any) -> float: ...

    @abstractmethod
    def _project(self, x: Array) -> Array: ...

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return _indicator(_within(self._norm(xp, x), self.radius))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _step(step)  # a projection does not depend on the step
        return self._project(x)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        return self.radius * self._dual_norm(xp, z)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(radius={self.radius})"


class L1Ball(_NormBall):
    r"""Indicator of :math:`\{\lVert x \rVert_1 \le r\}`; prox
    :math:`\operatorname{sign}(x) P_{\Delta_r}(|x|)` when outside; :math:`f^* = r \lVert z
    \rVert_\infty`."""

    name = "l1_ball"

    def __init__(self, radius: float = 1.0, method: Method = "auto") -> None:
        super().__init__(radius)
        resolve_method(method, np)
        self.method: Method = method

    def _norm(self, xp: Any, x: Any) -> float:
        return float(xp.sum(xp.abs(x)))

    def _dual_norm(self, xp: Any, z: Any) -> float:
        return _amax_abs(xp, z)

    def _project(self, x: Array) -> Array:
        return project_l1_ball(x, self.radius, self.method)


class L2Ball(_NormBall):
    r"""Indicator of :math:`\{\lVert x \rVert_2 \le r\}`; prox rescales onto the sphere when
    outside; :math:`f^* = r \lVert z \rVert_2`."""

    name = "l2_ball"

    def _norm(self, xp: Any, x: Any) -> float:
        return _norm2(xp, x)

    def _dual_norm(self, xp: Any, z: Any) -> float:
        return _norm2(xp, z)

    def _project(self, x: Array) -> Array:
        return project_l2_ball(x, self.radius)


class LinfBall(_NormBall):
    r"""Indicator of :math:`\{\lVert x \rVert_\infty \le r\}`; prox clips to :math:`[-r, r]`;
    :math:`f^* = r \lVert z \rVert_1`."""

    name = "linf_ball"

    def _norm(self, xp: Any, x: Any) -> float:
        return _amax_abs(xp, x)

    def _dual_norm(self, xp: Any, z: Any) -> float:
        return float(xp.sum(xp.abs(z)))

    def _project(self, x: Array) -> Array:
        return project_linf_ball(x, self.radius)


class _LinearSet(ProxOperator):
    """Shared parts of :class:`Hyperplane` and :class:`HalfSpace`."""

    def __init__(self, a: Any, beta: float) -> None:
        self.a = _HostArray(a, "a")
        self.beta = float(beta)
        norm = float(np.linalg.norm(self.a.host))
        if not (norm > 0.0 and math.isfinite(norm) and math.isfinite(self.beta)):
            raise ValueError("a must be finite and non-zero, beta finite")
        self._norm = norm

    def _check(self, x: Any) -> None:
        if x.shape != self.a.host.shape:
            raise ValueError(f"expected shape {self.a.host.shape}, got {x.shape}")

    def _excess(self, xp: Any, x: Any) -> tuple[float, float]:
        """``(a.x - beta, scale)`` for the membership tolerance."""
        self._check(x)
        ax = float(xp.sum(self.a.on(xp) * x))
        return ax - self.beta, max(abs(self.beta), self._norm * _norm2(xp, x))

    def _multiplier(self, xp: Any, z: Any) -> tuple[float, bool]:
        """``mu`` with ``z = mu a`` and whether ``z`` is (nearly) parallel to ``a``."""
        self._check(z)
        a = self.a.on(xp)
        mu = float(xp.sum(a * z)) / (self._norm * self._norm)
        residual = _norm2(xp, z - mu * a)
        return mu, _within(residual, 0.0, _norm2(xp, z), 1.0)


class Hyperplane(_LinearSet):
    r"""Indicator of :math:`\{x : a^\top x = \beta\}` (``a`` non-zero, same shape as ``x``).
    :math:`f^*(z) = \beta\mu` when :math:`z = \mu a`, :math:`+\infty` otherwise."""

    name = "hyperplane"
    convex = True

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        excess, scale = self._excess(xp, x)
        return _indicator(_within(abs(excess), 0.0, scale))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        _step(step)
        self._check(x)
        return project_hyperplane(x, self.a.on(xp, x.dtype), self.beta)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        mu, parallel = self._multiplier(xp, z)
        return self.beta * mu if parallel else math.inf


class HalfSpace(_LinearSet):
    r"""Indicator of :math:`\{x : a^\top x \le \beta\}`. :math:`f^*(z) = \beta\mu` when
    :math:`z = \mu a` with :math:`\mu \ge 0`, :math:`+\infty` otherwise."""

    name = "halfspace"
    convex = True

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        excess, scale = self._excess(xp, x)
        return _indicator(_within(excess, 0.0, scale))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        _step(step)
        self._check(x)
        return project_halfspace(x, self.a.on(xp, x.dtype), self.beta)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        mu, parallel = self._multiplier(xp, z)
        if not (parallel and _within(-mu, 0.0, _norm2(xp, z) / self._norm, 1.0)):
            return math.inf
        return self.beta * max(mu, 0.0)


class PSDCone(ProxOperator):
    r"""Indicator of the symmetric positive semidefinite matrices. Prox: eigenvalues of the
    symmetric part clipped at 0 (a non-symmetric input is projected too: the antisymmetric part is
    orthogonal to the cone's span). :math:`f^*(Z) = 0` when :math:`(Z + Z^\top)/2 \preceq 0`
    (the polar cone), :math:`+\infty` otherwise."""

    name = "psd"
    convex = True

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        _matrix(x, "PSDCone")
        scale = _norm2(xp, x)
        if not _within(_norm2(xp, x - x.T), 0.0, scale):
            return math.inf
        w = xp.linalg.eigvalsh(0.5 * (x + x.T))
        return _indicator(_within(-float(w.min()), 0.0, scale))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _step(step)
        return project_psd(x)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        _matrix(z, "PSDCone")
        w = xp.linalg.eigvalsh(0.5 * (z + z.T))
        return _indicator(_within(float(w.max()), 0.0, _norm2(xp, z), 1.0))


class TV1D(ProxOperator):
    r"""1-D total variation :math:`\lambda \sum_i |x_{i+1} - x_i|`, exact prox by Condat's direct
    algorithm (:mod:`workers.solvers.prox.tv1d`). :math:`f^*(z) = 0` when :math:`z = D^\top y` with
    :math:`\lVert y \rVert_\infty \le \lambda`, i.e. :math:`\sum_i z_i = 0` and every partial sum
    :math:`|\sum_{i \le j} z_i| \le \lambda`; :math:`+\infty` otherwise."""

    name = "tv1d"
    convex = True

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _scalar("lam", lam)

    @staticmethod
    def _check(x: Any) -> None:
        if x.ndim != 1:
            raise ValueError(f"TV1D acts on 1-D arrays, got shape {x.shape}")

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        self._check(x)
        return self.lam * float(xp.sum(xp.abs(xp.diff(x))))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _, x = _prepare(x)
        self._check(x)
        return tv1d_prox(x, _step(step) * self.lam)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        self._check(z)
        if not z.size:
            return 0.0
        partial = xp.cumsum(z)
        scale = float(xp.sum(xp.abs(z)))
        total_ok = _within(abs(float(partial[-1])), 0.0, scale)
        inner = _amax_abs(xp, partial[:-1])
        return _indicator(total_ok and _within(inner, self.lam, scale))

    def __repr__(self) -> str:
        return f"TV1D(lam={self.lam})"


# --------------------------------------------------------------------------------------------------
# Calculus
# --------------------------------------------------------------------------------------------------


class Scaled(ProxOperator):
    r""":math:`g = \alpha f` (:math:`\alpha > 0`): :math:`\operatorname{prox}_{tg} =
    \operatorname{prox}_{(\alpha t) f}`, :math:`g^*(z) = \alpha f^*(z / \alpha)`."""

    name = "scaled"
    convex = True  # overridden per instance by the wrapped function's

    def __init__(self, f: ProxOperator, alpha: float) -> None:
        self.f = f
        self.alpha = _scalar("alpha", alpha, positive=True)
        self._set_convex(f.convex)

    def value(self, x: Array) -> float:
        v = self.f.value(x)
        return self.alpha * v if math.isfinite(v) else v

    def prox(self, x: Array, step: float = 1.0) -> Array:
        return self.f.prox(x, self.alpha * _step(step))

    def conjugate_value(self, z: Array) -> float:
        _, z = _prepare(z)
        v = self.f.conjugate_value(z / self.alpha)
        return self.alpha * v if math.isfinite(v) else v

    def __repr__(self) -> str:
        return f"Scaled({self.f!r}, {self.alpha})"


class Translated(ProxOperator):
    r""":math:`g(x) = f(x - s)`: :math:`\operatorname{prox}_{tg}(x) = s + \operatorname{prox}_{tf}
    (x - s)`, :math:`g^*(z) = f^*(z) + \langle z, s \rangle`."""

    name = "translated"
    convex = True  # overridden per instance by the wrapped function's

    def __init__(self, f: ProxOperator, shift: Any) -> None:
        self.f = f
        self.shift = _HostArray(shift, "shift")
        self._set_convex(f.convex)

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        return self.f.value(x - self.shift.on(xp, x.dtype))

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        s = self.shift.on(xp, x.dtype)
        return s + self.f.prox(x - s, step)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        v = self.f.conjugate_value(z)
        if not math.isfinite(v):
            return v
        return v + float(xp.sum(z * self.shift.on(xp)))

    def __repr__(self) -> str:
        return f"Translated({self.f!r})"


class Conjugate(ProxOperator):
    r""":math:`g = f^*` for a convex ``f``, through the Moreau decomposition
    :math:`\operatorname{prox}_{t f^*}(x) = x - t \operatorname{prox}_{f/t}(x / t)`;
    :math:`g^* = f^{**} = f`. Needs ``f.conjugate_value`` for :meth:`value`."""

    name = "conjugate"
    convex = True

    def __init__(self, f: ProxOperator) -> None:
        if not f.convex:
            raise ValueError(
                f"Conjugate needs a convex function; {type(f).__name__} is not (the Moreau "
                "decomposition does not hold)"
            )
        self.f = f

    def value(self, x: Array) -> float:
        return self.f.conjugate_value(x)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        _, x = _prepare(x)
        t = _step(step)
        return x - t * self.f.prox(x / t, 1.0 / t)

    def conjugate_value(self, z: Array) -> float:
        return self.f.value(z)

    def __repr__(self) -> str:
        return f"Conjugate({self.f!r})"


class OrthogonalPrecomposition(ProxOperator):
    r""":math:`g(x) = f(Qx)` with :math:`Q` orthogonal (checked): :math:`\operatorname{prox}_{tg}
    (x) = Q^\top \operatorname{prox}_{tf}(Qx)`, :math:`g^*(z) = f^*(Qz)`. ``x`` is 1-D."""

    name = "orthogonal_precomposition"
    convex = True  # overridden per instance by the wrapped function's

    def __init__(self, f: ProxOperator, Q: Any) -> None:
        q = np.asarray(Q, dtype=np.float64)
        if q.ndim != 2 or q.shape[0] != q.shape[1]:
            raise ValueError(f"Q must be a square matrix, got shape {q.shape}")
        n = q.shape[0]
        defect = float(np.abs(q.T @ q - np.eye(n)).max()) if n else 0.0
        if not defect <= 1e-8:
            raise ValueError(f"Q must be orthogonal (max |Q^T Q - I| = {defect:.3g})")
        self.f = f
        self.Q = _HostArray(q, "Q")
        self._set_convex(f.convex)

    def _check(self, x: Any) -> None:
        if x.ndim != 1 or x.shape[0] != self.Q.host.shape[0]:
            raise ValueError(f"expected a 1-D array of length {self.Q.host.shape[0]}")

    def value(self, x: Array) -> float:
        xp, x = _prepare(x)
        self._check(x)
        return self.f.value(self.Q.on(xp, x.dtype) @ x)

    def prox(self, x: Array, step: float = 1.0) -> Array:
        xp, x = _prepare(x)
        self._check(x)
        q = self.Q.on(xp, x.dtype)
        return q.T @ self.f.prox(q @ x, step)

    def conjugate_value(self, z: Array) -> float:
        xp, z = _prepare(z)
        self._check(z)
        return self.f.conjugate_value(self.Q.on(xp, z.dtype) @ z)

    def __repr__(self) -> str:
        return f"OrthogonalPrecomposition({self.f!r})"


# --------------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueEntry:
    """One operator of the catalogue, as ``GET /v1/solvers`` lists it.

    ``params`` names every keyword ``build`` accepts, ``required`` those without a default.
    """

    name: str
    description: str
    params: tuple[str, ...]
    required: tuple[str, ...]
    convex: bool
    build: Callable[..., ProxOperator]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "params": list(self.params),
            "required": list(self.required),
            "convex": self.convex,
        }


def _entry(
    cls: type[ProxOperator], description: str, params: tuple[str, ...], required: tuple[str, ...]
) -> CatalogueEntry:
    return CatalogueEntry(cls.name, description, params, required, cls.convex, cls)


_ENTRIES = [
    _entry(L1, "lam * ||x||_1", ("lam",), ()),
    _entry(WeightedL1, "sum_i weights_i |x_i|", ("weights",), ("weights",)),
    _entry(ElasticNet, "lam ||x||_1 + (l2 / 2) ||x||_2^2", ("lam", "l2"), ()),
    _entry(L2Norm, "lam ||x||_2", ("lam",), ()),
    _entry(SquaredL2, "(lam / 2) ||x||_2^2", ("lam",), ()),
    _entry(LinfNorm, "lam ||x||_inf", ("lam", "method"), ()),
    _entry(
        GroupL21,
        "lam sum_g weights_g ||x_g||_2 (groups: label per coordinate; weights default sqrt|g|)",
        ("lam", "groups", "weights"),
        ("lam", "groups"),
    ),
    _entry(
        SumOfNorms, "lam sum_b ||x_b||_2 over disjoint index blocks", ("lam", "blocks"), ("lam",)
    ),
    _entry(
        GroupSparseEnvelope,
        "lam * convex envelope of 0.5 sum_g weights_g ||x_g||^2 on vectors with <= k non-zero "
        "groups (half squared group k-support norm)",
        ("k", "groups", "weights", "lam", "method"),
        ("k", "groups"),
    ),
    _entry(
        GroupSparsePenalty,
        "lam * (envelope - 0.5 sum_g weights_g ||x_g||^2): zero exactly on vectors with <= k "
        "non-zero groups (non-convex; prox needs step * lam * max(weights) < 1)",
        ("k", "groups", "weights", "lam", "method"),
        ("k", "groups"),
    ),
    _entry(
        GroupKSparse,
        "indicator of at most k non-zero groups (k-group budget; keeps the k largest groups)",
        ("k", "groups"),
        ("k", "groups"),
    ),
    _entry(NuclearNorm, "lam ||X||_* (sum of singular values)", ("lam",), ()),
    _entry(
        Huber,
        "sum_i huber_delta(x_i): x^2/2 if |x| <= delta else delta |x| - delta^2/2",
        ("delta",),
        (),
    ),
    _entry(Hinge, "sum_i max(0, 1 - x_i)", (), ()),
    _entry(
        MCP,
        "minimax concave penalty (lam, gamma > 1); prox exact for any step",
        ("lam", "gamma"),
        (),
    ),
    _entry(
        SCAD,
        "smoothly clipped absolute deviation (lam, gamma > 2); prox exact for any step",
        ("lam", "gamma"),
        (),
    ),
    _entry(L0, "lam ||x||_0 (hard threshold)", ("lam",), ()),
    _entry(Box, "indicator of lower <= x <= upper", ("lower", "upper"), ()),
    _entry(NonNeg, "indicator of x >= 0", (), ()),
    _entry(
        Simplex,
        "indicator of {x >= 0, sum x = radius} (prox = sparsemax for radius 1)",
        ("radius", "method"),
        (),
    ),
    _entry(L1Ball, "indicator of ||x||_1 <= radius", ("radius", "method"), ()),
    _entry(L2Ball, "indicator of ||x||_2 <= radius", ("radius",), ()),
    _entry(LinfBall, "indicator of ||x||_inf <= radius", ("radius",), ()),
    _entry(Hyperplane, "indicator of a^T x = beta", ("a", "beta"), ("a", "beta")),
    _entry(HalfSpace, "indicator of a^T x <= beta", ("a", "beta"), ("a", "beta")),
    _entry(PSDCone, "indicator of symmetric positive semidefinite X", (), ()),
    _entry(TV1D, "lam sum_i |x_{i+1} - x_i| (exact prox, Condat's algorithm)", ("lam",), ()),
]

#: The operators the service exposes, by name.
CATALOGUE: dict[str, CatalogueEntry] = {e.name: e for e in _ENTRIES}
