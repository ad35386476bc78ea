r"""Composite minimisation ``min_x L(A x; b) + g(x)`` by FISTA, graph-form ADMM or adaptive PDHG.

The loss ``L`` is one of three separable smooth losses of ``u = A x``:

.. math::

    L_{\mathrm{ls}}(u) = \tfrac12 \lVert u - b \rVert^2, \quad
    L_{\mathrm{logistic}}(u) = \sum_i \log\bigl(1 + e^{-b_i u_i}\bigr), \quad
    L_{\mathrm{huber}}(u) = \sum_i h_\delta(u_i - b_i),

with ``b_i in {-1, 1}`` for the logistic loss and ``h_delta(r) = r^2 / 2`` for ``|r| <= delta``,
``delta (|r| - delta / 2)`` beyond. The penalty ``g`` is any operator of the proximal catalogue
(:mod:`workers.solvers.prox.operators`): the solvers need only its ``value`` and ``prox``; the
certificate also uses its ``conjugate_value``.

Every iterate the solvers certify is judged by one certificate (see :func:`solve_composite`):
the Fenchel duality gap when the penalty is convex with a usable conjugate, else the
prox-gradient (KKT) residual. The private pieces (losses, certificate record, FISTA core) are
shared with :mod:`workers.solvers.prox.constrained`, :mod:`workers.solvers.prox.completion` and
:mod:`workers.solvers.prox.tv`. Pure numerics: numpy or cupy, the array module is read off the
inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from workers.solvers.backend import array_namespace, norm2_estimate, to_host
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.prox.operators import ProxOperator
from workers.solvers.result import SolverResult, SolverStatus, stop_message

__all__ = ["solve_composite"]

LossName = Literal["least_squares", "logistic", "huber"]
Algorithm = Literal["auto", "fista", "admm", "pdhg"]

_TINY = float(np.finfo(np.float64).tiny)
_EPS = float(np.finfo(np.float64).eps)

# FISTA step control (Scheinberg, Goldfarb & Bai 2014), as in workers/solvers/lasso.py: every
# iteration first tries the previous L shrunk by _L_DECREASE, and a failed trial raises L at least
# by _L_INCREASE (straight to the measured curvature when that is larger).
_L_DECREASE = 0.9
_L_INCREASE = 2.0
_MAX_BACKTRACKS = 60
_L_FLOOR_RATIO = 1e-12
_POWER_ITERATIONS = 8

# Certificates of non-quadratic losses cost one extra A^T product (the gradient at the iterate is
# not otherwise needed by FISTA, which evaluates it at the extrapolated point); ADMM and PDHG pay
# two. Certifying every few iterations keeps that overhead near 10-20 % of the iteration cost.
_CERT_EVERY_CHEAP = 1
_CERT_EVERY_NONQUADRATIC = 5
_CERT_EVERY_SPLITTING = 5

# Bisection steps for the dual rescaling when the penalty's conjugate is an indicator (norms):
# 2**-50 relative precision on the scale, far below any tolerance a caller can ask for.
_BISECTION_STEPS = 50
# Smallest dual-domain radius, relative to the starting gradient, that counts as an interior (see
# _certificate_mode): below it the rescaled dual point would carry almost no information anyway.
_INTERIOR_RATIO = 1e-6

# ADMM residual balancing with the normalised residuals of Wohlberg (2017) and the update of
# OSQP (Stellato et al. 2020): rho <- rho * sqrt(r_rel / s_rel), applied only when that changes
# rho by more than _RHO_RATIO, checked every `interval` iterations. The interval starts at
# _RHO_EVERY and doubles after each change: every change restarts ADMM's progress, and a fixed
# schedule was seen to bounce rho between two values forever (huber loss, 25 x 40).
_RHO_RATIO = 5.0
_RHO_EVERY = 10

# PDHG line search (Malitsky & Pock 2018): shrink factor, acceptance ratio, and the primal-weight
# update period (the PDLP rule of Applegate et al. 2021: smoothed ||dual move|| / ||primal move||).
_PD_SHRINK = 0.7
_PD_DELTA = 0.99
_PD_WEIGHT_EVERY = 50
_PD_WEIGHT_SMOOTHING = 0.5


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------


def _float_dtype(*dtypes: Any) -> np.dtype[Any]:
    dtype = np.result_type(*dtypes)
    if dtype.kind != "f":
        return np.dtype(np.float64)
    if dtype.itemsize < 4:
        return np.dtype(np.float32)  # float16 cannot hold the sums involved
    return np.dtype(dtype)


def _as_real(xp: Any, a: Any, name: str) -> Any:
    arr = xp.asarray(a)
    kind = np.dtype(arr.dtype).kind
    if kind == "c":
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _check_common(tol: float, max_iter: int) -> float:
    tol = float(tol)
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    return tol


def _norm2_estimate(xp: Any, A: Any, dtype: Any) -> tuple[float, int]:
    """``||A||_2^2`` estimated by ``_POWER_ITERATIONS`` power iterations (a lower bound)."""
    return norm2_estimate(xp, A, dtype, _POWER_ITERATIONS)


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------


class _Loss:
    """A separable smooth loss ``L(u) = sum_i phi(u_i; b_i)`` of ``u = A x`` (device arithmetic).

    ``smooth`` is the Lipschitz constant of ``phi'``; ``quadratic`` means ``grad`` is affine, so
    FISTA may combine gradients instead of recomputing them.
    """

    smooth: float = 1.0
    quadratic: bool = False

    def __init__(self, xp: Any, b: Any) -> None:
        self.xp = xp
        self.b = b

    def value(self, u: Any) -> Any:
        raise NotImplementedError

    def grad(self, u: Any) -> Any:
        raise NotImplementedError

    def fenchel_young(self, u: Any, grad: Any, s: float) -> Any:
        """``L(u) + L*(w) - <w, u> >= 0`` at ``w = s grad L(u)``, ``0 <= s <= 1``, stably."""
        raise NotImplementedError

    def prox(self, v: Any, step: float) -> Any:
        """``argmin_w L(w) + ||w - v||^2 / (2 step)``."""
        raise NotImplementedError

    def bregman(self, u: Any, v: Any, grad_v: Any) -> Any:
        """``L(u) - L(v) - <grad L(v), u - v>``, summed elementwise (only rounding makes it < 0)."""
        return self.value(u) - self.value(v) - self.xp.dot(grad_v, u - v)


class _LeastSquares(_Loss):
    smooth = 1.0
    quadratic = True

    def value(self, u: Any) -> Any:
        r = u - self.b
        return 0.5 * self.xp.dot(r, r)

    def grad(self, u: Any) -> Any:
        return u - self.b

    def fenchel_young(self, u: Any, grad: Any, s: float) -> Any:
        # L*(w) = ||w||^2 / 2 + <w, b>; with w = s r, r = u - b, the sum is 0.5 (1 - s)^2 ||r||^2.
        return 0.5 * (1.0 - s) ** 2 * self.xp.dot(grad, grad)

    def prox(self, v: Any, step: float) -> Any:
        return (v + step * self.b) / (1.0 + step)


class _Huber(_Loss):
    smooth = 1.0

    def __init__(self, xp: Any, b: Any, delta: float) -> None:
        super().__init__(xp, b)
        self.delta = delta

    def value(self, u: Any) -> Any:
        xp, d = self.xp, self.delta
        a = xp.abs(u - self.b)
        return xp.sum(xp.where(a <= d, 0.5 * a * a, d * (a - 0.5 * d)))

    def grad(self, u: Any) -> Any:
        return self.xp.clip(u - self.b, -self.delta, self.delta)

    def fenchel_young(self, u: Any, grad: Any, s: float) -> Any:
        # L*(w) = sum w_i^2 / 2 + w_i b_i on |w_i| <= delta. With r = u - b, w = s clip(r):
        # |r| <= delta: (1 - s)^2 r^2 / 2;  |r| > delta: (1 - s) delta (|r| - delta (1 + s) / 2).
        xp, d = self.xp, self.delta
        a = xp.abs(u - self.b)
        inner = 0.5 * (1.0 - s) ** 2 * a * a
        outer = (1.0 - s) * d * (a - 0.5 * d * (1.0 + s))
        return xp.sum(xp.where(a <= d, inner, outer))

    def prox(self, v: Any, step: float) -> Any:
        xp, d = self.xp, self.delta
        a = v - self.b
        inside = xp.abs(a) <= d * (1.0 + step)
        r = xp.where(inside, a / (1.0 + step), a - step * d * xp.sign(a))
        return self.b + r


class _Logistic(_Loss):
    smooth = 0.25
    _NEWTON_STEPS = 100

    def __init__(self, xp: Any, b: Any) -> None:
        super().__init__(xp, b)
        self._warm: Any = None  # the last prox root, to start the next one from

    def value(self, u: Any) -> Any:
        return self.xp.sum(self.xp.logaddexp(0.0, -self.b * u))

    def _sigma_neg(self, margin: Any) -> Any:
        """``1 / (1 + exp(margin))`` without overflow."""
        return self.xp.exp(-self.xp.logaddexp(0.0, margin))

    def grad(self, u: Any) -> Any:
        return -self.b * self._sigma_neg(self.b * u)

    def fenchel_young(self, u: Any, grad: Any, s: float) -> Any:
        # With margin m = b u, q = sigma(-m) and w = -b s q, the Fenchel-Young sum is the
        # Bernoulli KL divergence KL(s q || q) = s q log s + (1 - s q) log(1 + (1 - s) e^{-m}),
        # exactly 0 at s = 1 and free of the cancellation of L(u) + L*(w) - <w, u>.
        xp = self.xp
        if s >= 1.0:
            return xp.zeros((), dtype=u.dtype)
        m = self.b * u
        if s <= 0.0:
            return self.value(u)  # w = 0: L*(0) = 0
        q = self._sigma_neg(m)
        return xp.sum(s * q * math.log(s) + (1.0 - s * q) * xp.logaddexp(0.0, math.log1p(-s) - m))

    def prox(self, v: Any, step: float) -> Any:
        # In c = b w, a = b v: minimise log(1 + e^{-c}) + (c - a)^2 / (2 step). The root of
        # F(c) = (c - a) / step - sigma(-c) is increasing and lies in [a, a + step]. F is
        # S-shaped for large steps, where plain Newton can cycle between the ends of the bracket;
        # a coordinate therefore takes its Newton step only when it stays inside the bracket
        # and its last step at least halved |F|, and bisects otherwise (a safeguarded Newton in
        # the spirit of rtsafe). ADMM and PDHG call this with slowly changing arguments: the
        # previous root, clipped into the new bracket, is the start (2-3 Newton steps).
        xp = self.xp
        a = self.b * v
        lo, hi = a, a + step
        warm = self._warm
        if warm is not None and warm.shape == a.shape:
            c = xp.clip(warm, lo, hi)
        else:
            c = a + step * self._sigma_neg(a)
        accuracy = 4.0 * _EPS * (xp.abs(a) + step)
        F_prev = xp.full_like(c, math.inf)
        for _ in range(self._NEWTON_STEPS):
            q = self._sigma_neg(c)
            F = (c - a) / step - q
            done = xp.abs(F) * step <= accuracy  # |c - root| <= step |F| since F' >= 1 / step
            if bool(xp.all(done)):
                break
            lo = xp.where(F < 0, c, lo)
            hi = xp.where(F > 0, c, hi)
            newton = c - F / (1.0 / step + q * (1.0 - q))
            ok = (newton > lo) & (newton < hi) & (xp.abs(F) <= 0.5 * F_prev)
            c = xp.where(done, c, xp.where(ok, newton, 0.5 * (lo + hi)))
            F_prev = xp.abs(F)
        self._warm = c
        return self.b * c


def _make_loss(xp: Any, b: Any, loss: str, delta: float) -> _Loss:
    if loss == "least_squares":
        return _LeastSquares(xp, b)
    if loss == "huber":
        if not (math.isfinite(delta) and delta > 0.0):
            raise ValueError(f"delta must be finite and > 0, got {delta}")
        return _Huber(xp, b, delta)
    if loss == "logistic":
        if b.size and not bool(xp.all(xp.abs(b) == 1.0)):
            raise ValueError("the logistic loss needs labels b in {-1, 1}")
        return _Logistic(xp, b)
    raise ValueError(f"unknown loss {loss!r}; expected least_squares, logistic or huber")


# ------------------------------------------------------------------------------------------------
# certificates
# ------------------------------------------------------------------------------------------------

_KEYS = {
    "gap": ("duality_gap", "relative_gap", "relative duality gap"),
    "kkt": ("kkt_residual", "relative_kkt_residual", "relative KKT residual"),
    "fw": ("frank_wolfe_gap", "relative_frank_wolfe_gap", "relative Frank-Wolfe gap"),
}


@dataclass(frozen=True)
class _Cert:
    """Optimality measures at one iterate (host floats); ``kind`` is gap, kkt or fw."""

    kind: str
    primal: float
    absolute: float
    relative: float
    dual: float = math.nan  # only for kind == "gap"
    extra: dict[str, float] = field(default_factory=dict)

    def finite(self) -> bool:
        values = [self.primal, self.absolute, self.relative]
        if self.kind == "gap":
            values.append(self.dual)
        return all(math.isfinite(v) for v in values)

    @property
    def measure(self) -> str:
        return _KEYS[self.kind][2]

    def as_dict(self) -> dict[str, float]:
        abs_key, rel_key, _ = _KEYS[self.kind]
        out = {abs_key: self.absolute, rel_key: self.relative, "primal": self.primal}
        if self.kind == "gap":
            out["dual"] = self.dual
        out.update(self.extra)
        return {key: float(value) for key, value in out.items()}

    def trace_measures(self) -> dict[str, float]:
        abs_key, rel_key, _ = _KEYS[self.kind]
        return {abs_key: float(self.absolute), rel_key: float(self.relative)}


def _gap_cert(primal: float, gap: float) -> _Cert:
    gap = max(gap, 0.0)  # >= 0 in exact arithmetic; only rounding can push it below
    return _Cert("gap", primal, gap, gap / max(primal, _TINY), primal - gap)


def _dual_gauge(penalty: ProxOperator, xp: Any, z: Any) -> float | None:
    """For a norm penalty, ``t`` with ``z / t`` on the boundary of ``dom g*`` (the dual ball).

    A closed form for the catalogue's norms, saving the bisection of :func:`_scale_into_domain`
    (which also works for these); ``None`` for any other operator.
    """
    name = getattr(penalty, "name", "")
    lam = getattr(penalty, "lam", None)
    if name in ("l1", "l2", "linf") and isinstance(lam, float) and lam > 0.0:
        a = xp.abs(z)
        if name == "l1":
            dual_norm = xp.max(a) if z.size else 0.0
        elif name == "l2":
            dual_norm = xp.sqrt(xp.sum(a * a))
        else:
            dual_norm = xp.sum(a)
        return float(dual_norm) / lam
    return None


def _scale_into_domain(
    penalty: ProxOperator, xp: Any, z: Any, s_hint: float
) -> tuple[float, float]:
    """Largest ``s`` in ``[0, 1]`` with ``g*(s z)`` finite, and that value.

    ``dom g*`` is convex and contains 0 (the penalties are bounded below), so the finite set of
    ``s`` is an interval ``[0, s*]``; found by bisection to ``2**-50`` unless the penalty is a
    norm with a closed-form dual norm. ``s_hint`` (the previous iterate's scale) usually brackets
    ``s*`` tightly and saves most of the bisection.
    """
    conj = penalty.conjugate_value
    gauge = _dual_gauge(penalty, xp, z)
    if gauge is not None:
        s = 1.0 if gauge <= 1.0 else 1.0 / gauge
        value = conj(s * z) if s < 1.0 else conj(z)
        if math.isfinite(value):
            return s, value
    value = conj(z)
    if math.isfinite(value):
        return 1.0, value
    lo, lo_value = 0.0, conj(0.0 * z)
    hi = 1.0
    if 0.0 < s_hint < 1.0:
        width = 1e-9
        while width < 1.0:
            up = min(1.0, s_hint * (1.0 + width))
            v_up = conj(up * z)
            if not math.isfinite(v_up):
                hi = up
                break
            lo, lo_value = up, v_up
            width *= 1e3
        down = s_hint * (1.0 - width)
        if lo == 0.0 and down > 0.0:
            v = conj(down * z)
            if math.isfinite(v):
                lo, lo_value = down, v
    for _ in range(_BISECTION_STEPS + 20):
        if hi - lo <= 2.0**-_BISECTION_STEPS * hi:
            break
        mid = 0.5 * (lo + hi)
        v = conj(mid * z)
        if math.isfinite(v):
            lo, lo_value = mid, v
        else:
            hi = mid
    return lo, lo_value


class _Certifier:
    """Certificate of ``P(x) = L(A x) + g(x)`` at an iterate, from ``A x`` and ``grad f(x)``.

    ``mode == "gap"``: the Fenchel dual ``D(w) = -L*(w) - g*(-A^T w)`` at
    ``w = s grad L(A x)``, with ``s`` the largest scale in ``(0, 1]`` keeping ``g*(-A^T w)`` finite
    (for a norm penalty: scaling into the dual ball). The gap is evaluated as the sum of the two
    Fenchel-Young excesses ``[L(Ax) + L*(w) - <w, Ax>] + [g(x) + g*(z) - <z, x>]``, ``z = -A^T w``
    (the inner products cancel), which keeps small relative gaps measurable.

    ``mode == "kkt"``: the prox-gradient mapping ``G = (x - prox_{t g}(x - t grad f(x))) / t`` at
    ``t = 1 / L``, reported as ``||G||_2`` and relative to ``||grad f(x_0)||_2`` at the start.
    """

    def __init__(self, xp: Any, loss: _Loss, penalty: ProxOperator, mode: str) -> None:
        self.xp = xp
        self.loss = loss
        self.penalty = penalty
        self.mode = mode
        self.grad_scale = 0.0
        self._s_hint = 1.0

    def __call__(self, x: Any, Ax: Any, gx: Any, wx: Any, step: float) -> _Cert:
        xp = self.xp
        g_val = float(self.penalty.value(x))
        if self.mode == "gap":
            s, conj = _scale_into_domain(self.penalty, xp, -gx, self._s_hint)
            self._s_hint = s
            lval, fy_loss, zx = to_host(
                xp, self.loss.value(Ax), self.loss.fenchel_young(Ax, wx, s), xp.dot(gx, x)
            )
            primal = lval + g_val
            # z = -s A^T grad L = -s grad f(x); g(x) + g*(z) - <z, x>.
            fy_pen = g_val + conj + s * zx
            cert = _gap_cert(primal, fy_loss + fy_pen)
            return cert if math.isfinite(g_val) else _Cert("gap", math.inf, math.inf, math.inf)
        G = x - self.penalty.prox(x - step * gx, step)
        lval, gnorm = to_host(xp, self.loss.value(Ax), xp.sqrt(xp.dot(G, G)))
        res = gnorm / step
        return _Cert("kkt", lval + g_val, res, res / max(self.grad_scale, _TINY))


def _certificate_mode(xp: Any, penalty: ProxOperator, n: int, dtype: Any, scale: float) -> str:
    """``gap`` when the penalty is convex and its conjugate can be made finite by rescaling.

    Rescaling works for every direction when ``dom g*`` contains a ball around 0 (norms, bounded
    sets, strongly convex penalties). For cones such as the orthant, 0 lies on its boundary: no
    rescaling yields a dual point, and the KKT residual is used instead. Two opposite probe
    directions of the size ``scale`` of the starting gradient tell the cases apart; a ball
    smaller than ``_INTERIOR_RATIO * scale`` counts as none (the catalogue's conjugates accept
    points within an absolute 1e-9 of their domain, which must not pass for an interior).
    """
    if not getattr(penalty, "convex", False):
        return "kkt"
    d = xp.cos(xp.arange(n, dtype=dtype) * 1.7 + 0.3)
    d = d * (max(scale, 1.0) / float(xp.max(xp.abs(d))))
    try:
        if not math.isfinite(float(penalty.conjugate_value(0.0 * d))):
            return "kkt"
        for direction in (d, -d):
            s, _ = _scale_into_domain(penalty, xp, direction, 1.0)
            if not s >= _INTERIOR_RATIO:
                return "kkt"
    except NotImplementedError:
        return "kkt"
    return "gap"


# ------------------------------------------------------------------------------------------------
# the problem and the run record shared by the algorithms
# ------------------------------------------------------------------------------------------------

Certify = Callable[[Any, Any, Any, Any, float], _Cert]


@dataclass
class _Problem:
    xp: Any
    A: Any
    b: Any
    loss: _Loss
    prox: Callable[[Any, float], Any]
    certify: Certify
    momentum: bool = True  # False for non-convex penalties: plain (monotone) prox-gradient
    matvecs: int = 0

    def grads(self, Ax: Any) -> tuple[Any, Any]:
        """``grad L(A x)`` and ``grad f(x) = A^T grad L(A x)``."""
        w = self.loss.grad(Ax)
        self.matvecs += 1
        return w, self.A.T @ w


@dataclass
class _Run:
    status: SolverStatus
    x: Any
    cert: _Cert
    iterations: int
    returned_iteration: int
    failure: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class _Tracker:
    """Keeps the best certified iterate and feeds the monitor's trace."""

    def __init__(self, monitor: Monitor | None, x: Any, cert: _Cert) -> None:
        self.monitor = monitor
        self.best_x, self.best_cert, self.best_k = x, cert, 0
        self.last_k, self.last_cert = 0, cert
        self.last_recorded = -1

    def offer(self, k: int, x: Any, cert: _Cert, **extra: float) -> None:
        self.last_k, self.last_cert = k, cert
        if cert.primal < self.best_cert.primal or not self.best_cert.finite():
            self.best_x, self.best_cert, self.best_k = x, cert, k
        if self.monitor is not None and self.monitor.wants_trace(k):
            self.monitor.record(k, cert.primal, **cert.trace_measures(), **extra)
            self.last_recorded = k

    def converged(self, k: int, x: Any, cert: _Cert) -> None:
        self.best_x, self.best_cert, self.best_k = x, cert, k

    def close(self) -> None:
        if (
            self.monitor is not None
            and self.last_recorded != self.last_k
            and self.last_cert.finite()
        ):
            self.monitor.record(
                self.last_k, self.last_cert.primal, **self.last_cert.trace_measures()
            )


def _start(
    p: _Problem, x: Any, tol: float, L: float
) -> tuple[Any, Any, Any, _Cert, SolverStatus | None, str]:
    """Products, gradient and certificate at the starting point; a status if already done."""
    Ax = p.A @ x
    w, gx = p.grads(Ax)
    p.matvecs += 1
    cert = p.certify(x, Ax, gx, w, 1.0 / L)
    if not cert.finite():
        return Ax, w, gx, cert, SolverStatus.NUMERICAL_ERROR, "non-finite value at the start"
    if cert.relative <= tol:
        return Ax, w, gx, cert, SolverStatus.CONVERGED, ""
    return Ax, w, gx, cert, None, ""


# ------------------------------------------------------------------------------------------------
# FISTA
# ------------------------------------------------------------------------------------------------


def _fista(
    p: _Problem,
    x: Any,
    *,
    L0: float,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    cert_every: int,
) -> _Run:
    """FISTA with two-way backtracking and gradient restart (see :func:`solve_composite`)."""
    xp, A, loss = p.xp, p.A, p.loss
    L = L0
    L_floor = L * _L_FLOOR_RATIO
    Ax, w, gx, cert, status, failure = _start(p, x, tol, L)
    tracker = _Tracker(monitor, x, cert)
    gx_valid = True
    x_prev, Ax_prev, g_prev = x, Ax, gx
    t = 1.0
    k = 0
    restarts = backtracks = 0
    last_certified = 0

    while status is None:
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1
        L_try = max(_L_DECREASE * L, L_floor)
        accepted = False
        y, Ay, gy, wy = x, Ax, gx, w
        fixed_y = False
        for _ in range(_MAX_BACKTRACKS):
            if loss.quadratic and p.momentum:
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * (L_try / L) * t * t))
            elif p.momentum:
                # y must not move while backtracking (its gradient costs a product): plain t.
                t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            else:
                t_new = 1.0
            beta = (t - 1.0) / t_new
            if not fixed_y:
                if beta == 0.0:
                    y, Ay = x, Ax
                    if not gx_valid:
                        w, gx = p.grads(Ax)
                        gx_valid = True
                    gy, wy = gx, w
                else:
                    y = x + beta * (x - x_prev)
                    Ay = Ax + beta * (Ax - Ax_prev)
                    if loss.quadratic:
                        gy = gx + beta * (gx - g_prev)
                        wy = None
                    else:
                        wy, gy = p.grads(Ay)
                fixed_y = not loss.quadratic
            x_new = p.prox(y - gy / L_try, 1.0 / L_try)
            Ax_new = A @ x_new
            p.matvecs += 1
            d = x_new - y
            Ad = Ax_new - Ay
            d2, ad2, against = to_host(xp, xp.dot(d, d), xp.dot(Ad, Ad), -xp.dot(d, x_new - x))
            if not all(math.isfinite(v) for v in (d2, ad2, against)):
                break
            if d2 == 0.0 or loss.smooth * ad2 <= L_try * d2:
                accepted = True
                break
            if not loss.quadratic:
                # The loss's global curvature bound failed; its actual curvature along d may be
                # far lower (the logistic loss is flat away from the margin).
                if wy is None:
                    wy = loss.grad(Ay)
                fy_y = float(loss.value(Ay))
                D = float(loss.bregman(Ax_new, Ay, wy))
                if math.isfinite(D) and D <= 0.5 * L_try * d2 + 8.0 * _EPS * abs(fy_y):
                    accepted = True
                    break
                curv = 2.0 * D / d2 if math.isfinite(D) else math.inf
            else:
                curv = ad2 / d2
            backtracks += 1
            L_try = max(_L_INCREASE * L_try, curv)
            if not math.isfinite(L_try):
                break
        if not accepted:
            status = SolverStatus.NUMERICAL_ERROR
            failure = f"non-finite value or failed backtracking at iteration {k}"
            break

        if p.momentum and against > 0.0:  # O'Donoghue-Candes gradient restart
            t_new = 1.0
            restarts += 1
        x_prev, Ax_prev, g_prev = x, Ax, gx
        x, Ax = x_new, Ax_new
        L, t = L_try, t_new
        gx_valid = False
        if loss.quadratic or not p.momentum:
            w, gx = p.grads(Ax)  # needed by the next step anyway
            gx_valid = True
        if k % cert_every == 0:
            if not gx_valid:
                w, gx = p.grads(Ax)
                gx_valid = True
            cert = p.certify(x, Ax, gx, w, 1.0 / L)
            last_certified = k
            if not cert.finite():
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite objective or certificate at iteration {k}"
                break
            tracker.offer(k, x, cert, step=1.0 / L)
            if cert.relative <= tol:
                status = SolverStatus.CONVERGED
                tracker.converged(k, x, cert)

    if status is not SolverStatus.CONVERGED and last_certified != k and failure == "":
        if not gx_valid:
            w, gx = p.grads(Ax)
        cert = p.certify(x, Ax, gx, w, 1.0 / L)
        if cert.finite():
            tracker.offer(k, x, cert, step=1.0 / L)
    tracker.close()
    return _Run(
        status,
        tracker.best_x,
        tracker.best_cert,
        k,
        tracker.best_k,
        failure,
        {"restarts": restarts, "backtracks": backtracks, "L": L},
    )


# ------------------------------------------------------------------------------------------------
# ADMM (graph form)
# ------------------------------------------------------------------------------------------------


class _GraphProjector:
    """Euclidean projection onto ``{(x, y): y = B x}`` with a cached inverse.

    ``B = A / alpha`` has spectral norm about 1, so ``I + B^T B`` (or ``I + B B^T``, whichever is
    smaller) has eigenvalues in ``[1, 2]`` and its explicit inverse is as accurate as a Cholesky
    solve while applying it is one matrix-vector product. The projection of ``(c, d)`` is
    ``x = (I + B^T B)^{-1} (c + B^T d)``, ``y = B x``; for wide ``B`` the equivalent
    ``y = d + (I + B B^T)^{-1} (B c - d)``, ``x = c - B^T (y - d)``.
    """

    def __init__(self, xp: Any, B: Any) -> None:
        self.xp = xp
        self.B = B
        m, n = B.shape
        self.wide = m < n
        if self.wide:
            K = B @ B.T
        else:
            K = B.T @ B
        K = K + xp.eye(K.shape[0], dtype=B.dtype)
        self.Kinv = xp.linalg.inv(K)

    def __call__(self, c: Any, d: Any) -> tuple[Any, Any]:
        B, Kinv = self.B, self.Kinv
        if self.wide:
            y = d + Kinv @ (B @ c - d)
            x = c - B.T @ (y - d)
            return x, y
        x = Kinv @ (c + B.T @ d)
        return x, B @ x


def _admm(
    p: _Problem,
    penalty: ProxOperator,
    x: Any,
    *,
    norm2: float,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    cert_every: int,
) -> _Run:
    """Graph-form ADMM (Parikh & Boyd 2014, POGS) with residual balancing."""
    xp, A, loss = p.xp, p.A, p.loss
    alpha = math.sqrt(norm2) if norm2 > 0.0 and math.isfinite(norm2) else 1.0
    B = A / alpha
    project = _GraphProjector(xp, B)
    step_L = loss.smooth * max(norm2, _TINY)
    Ax, w, gx, cert, status, failure = _start(p, x, tol, step_L)
    tracker = _Tracker(monitor, x, cert)

    def prox_loss(v: Any, step: float) -> Any:
        # prox of y -> L(alpha y) with step `step`: (1 / alpha) prox_{alpha^2 step L}(alpha v).
        return loss.prox(alpha * v, alpha * alpha * step) / alpha

    x_t = x
    y_t = Ax / alpha
    ux = xp.zeros_like(x_t)
    uy = xp.zeros_like(y_t)
    rho = alpha * alpha * loss.smooth if loss.smooth > 0 else 1.0
    rho = max(rho, 1e-8)
    k = 0
    rho_changes = 0
    last_change = 0
    interval = _RHO_EVERY
    last_certified = 0
    x_h = x
    while status is None:
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1
        x_h = p.prox(x_t - ux, 1.0 / rho)
        y_h = prox_loss(y_t - uy, 1.0 / rho)
        x_n, y_n = project(x_h + ux, y_h + uy)
        p.matvecs += 2
        rx, ry = x_h - x_n, y_h - y_n
        ux = ux + rx
        uy = uy + ry
        dx, dy = x_n - x_t, y_n - y_t
        x_t, y_t = x_n, y_n

        if k - last_change >= interval:
            r2, s2, h2, t2, u2 = to_host(
                xp,
                xp.dot(rx, rx) + xp.dot(ry, ry),
                xp.dot(dx, dx) + xp.dot(dy, dy),
                xp.dot(x_h, x_h) + xp.dot(y_h, y_h),
                xp.dot(x_t, x_t) + xp.dot(y_t, y_t),
                xp.dot(ux, ux) + xp.dot(uy, uy),
            )
            if not all(math.isfinite(v) for v in (r2, s2, h2, t2, u2)):
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite ADMM iterate at iteration {k}"
                break
            r_rel = math.sqrt(r2) / max(math.sqrt(max(h2, t2)), _TINY)
            s_rel = math.sqrt(s2) / max(math.sqrt(u2), _TINY)  # rho ||dz|| / (rho ||u||)
            factor = math.sqrt(r_rel / s_rel) if r_rel > 0.0 and s_rel > 0.0 else 1.0
            if factor > _RHO_RATIO or factor < 1.0 / _RHO_RATIO:
                rho *= factor
                ux = ux / factor  # the scaled dual u = lambda / rho keeps lambda
                uy = uy / factor
                rho_changes += 1
                interval *= 2
            last_change = k

        if k % cert_every == 0:
            Ax_h = A @ x_h
            p.matvecs += 1
            w, gx = p.grads(Ax_h)
            cert = p.certify(x_h, Ax_h, gx, w, 1.0 / step_L)
            last_certified = k
            if not cert.finite():
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite objective or certificate at iteration {k}"
                break
            tracker.offer(k, x_h, cert, rho=rho)
            if cert.relative <= tol:
                status = SolverStatus.CONVERGED
                tracker.converged(k, x_h, cert)

    if status is not SolverStatus.CONVERGED and last_certified != k and failure == "":
        Ax_h = A @ x_h
        p.matvecs += 1
        w, gx = p.grads(Ax_h)
        cert = p.certify(x_h, Ax_h, gx, w, 1.0 / step_L)
        if cert.finite():
            tracker.offer(k, x_h, cert, rho=rho)
    tracker.close()
    return _Run(
        status,
        tracker.best_x,
        tracker.best_cert,
        k,
        tracker.best_k,
        failure,
        {"rho": rho, "rho_changes": rho_changes, "scale": alpha},
    )


# ------------------------------------------------------------------------------------------------
# PDHG with line search
# ------------------------------------------------------------------------------------------------


def _pdhg(
    p: _Problem,
    x: Any,
    *,
    norm2: float,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
    cert_every: int,
) -> _Run:
    """PDHG for ``min_x max_w g(x) + <A x, w> - L*(w)`` with the Malitsky-Pock line search."""
    xp, A, loss = p.xp, p.A, p.loss
    norm = math.sqrt(norm2) if norm2 > 0.0 and math.isfinite(norm2) else 1.0
    step_L = loss.smooth * max(norm2, _TINY)
    Ax, w, gx, cert, status, failure = _start(p, x, tol, step_L)
    tracker = _Tracker(monitor, x, cert)

    def prox_conj(v: Any, sigma: float) -> Any:
        # Moreau: prox_{sigma L*}(v) = v - sigma prox_{L / sigma}(v / sigma).
        return v - sigma * loss.prox(v / sigma, 1.0 / sigma)

    # The dual starts at grad L(A x_0), which is the optimal dual map of the starting point.
    ATw = gx
    beta = 1.0  # sigma = beta tau; updated by the primal-weight rule below
    tau = 1.0 / (norm * math.sqrt(beta))
    theta = 1.0
    k = 0
    last_certified = 0
    backtracks = 0
    x_anchor, w_anchor = x, w
    while status is None:
        status = stop_reason(monitor, k, max_iter)
        if status is not None:
            break
        k += 1
        x_new = p.prox(x - tau * ATw, tau)
        Ax_new = A @ x_new
        p.matvecs += 1
        tau_new = tau * math.sqrt(1.0 + theta)
        accepted = False
        for _ in range(_MAX_BACKTRACKS):
            theta_new = tau_new / tau
            sigma = beta * tau_new
            w_new = prox_conj(w + sigma * (Ax_new + theta_new * (Ax_new - Ax)), sigma)
            ATw_new = A.T @ w_new
            p.matvecs += 1
            dA = ATw_new - ATw
            dw = w_new - w
            lhs, rhs = to_host(xp, xp.dot(dA, dA), xp.dot(dw, dw))
            if not (math.isfinite(lhs) and math.isfinite(rhs)):
                break
            if math.sqrt(beta) * tau_new * math.sqrt(lhs) <= _PD_DELTA * math.sqrt(rhs):
                accepted = True
                break
            backtracks += 1
            tau_new *= _PD_SHRINK
        if not accepted:
            status = SolverStatus.NUMERICAL_ERROR
            failure = f"non-finite value or failed line search at iteration {k}"
            break
        x, Ax, w, ATw = x_new, Ax_new, w_new, ATw_new
        tau, theta = tau_new, theta_new

        if k % _PD_WEIGHT_EVERY == 0:
            dxn, dwn = to_host(
                xp, xp.sqrt(xp.sum((x - x_anchor) ** 2)), xp.sqrt(xp.sum((w - w_anchor) ** 2))
            )
            if dxn > 0.0 and dwn > 0.0 and math.isfinite(dxn) and math.isfinite(dwn):
                omega_old = math.sqrt(beta)
                omega = math.exp(
                    _PD_WEIGHT_SMOOTHING * math.log(dwn / dxn)
                    + (1.0 - _PD_WEIGHT_SMOOTHING) * math.log(omega_old)
                )
                beta = omega * omega
                tau *= omega_old / omega  # keeps tau * sigma = beta tau^2 unchanged
            x_anchor, w_anchor = x, w

        if k % cert_every == 0:
            wx, gx = p.grads(Ax)
            cert = p.certify(x, Ax, gx, wx, 1.0 / step_L)
            last_certified = k
            if not cert.finite():
                status = SolverStatus.NUMERICAL_ERROR
                failure = f"non-finite objective or certificate at iteration {k}"
                break
            tracker.offer(k, x, cert, tau=tau, sigma=beta * tau)
            if cert.relative <= tol:
                status = SolverStatus.CONVERGED
                tracker.converged(k, x, cert)

    if status is not SolverStatus.CONVERGED and last_certified != k and failure == "":
        wx, gx = p.grads(Ax)
        cert = p.certify(x, Ax, gx, wx, 1.0 / step_L)
        if cert.finite():
            tracker.offer(k, x, cert, tau=tau, sigma=beta * tau)
    tracker.close()
    return _Run(
        status,
        tracker.best_x,
        tracker.best_cert,
        k,
        tracker.best_k,
        failure,
        {"tau": tau, "sigma": beta * tau, "backtracks": backtracks},
    )


# ------------------------------------------------------------------------------------------------
# public entry point
# ------------------------------------------------------------------------------------------------


def _result(run: _Run, *, started: float, tol: float, max_iter: int, **info: Any) -> SolverResult:
    message = stop_message(
        run.status,
        measure=run.cert.measure,
        value=run.cert.relative,
        tol=tol,
        iterations=run.iterations,
        max_iter=max_iter,
        returned=f"the lowest-objective certified iterate (iteration {run.returned_iteration})",
        failure=run.failure,
    )
    return SolverResult(
        status=run.status,
        objective=float(run.cert.primal),
        iterations=run.iterations,
        solve_time_s=time.perf_counter() - started,
        certificate=run.cert.as_dict(),
        solution={"x": run.x},
        message=message,
        info={**run.info, **info, "returned_iteration": run.returned_iteration},
    )


def solve_composite(
    A: Any,
    b: Any,
    loss: LossName,
    penalty: ProxOperator,
    *,
    delta: float = 1.0,
    algorithm: Algorithm = "auto",
    tol: float = 1e-6,
    max_iter: int = 10000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Minimise ``P(x) = L(A x; b) + g(x)`` for a smooth separable loss and a prox-able penalty.

    Parameters
    ----------
    A : array, shape (m, n)
        Design matrix (numpy or cupy, dense). Never modified.
    b : array, shape (m,)
        Targets; labels in ``{-1, 1}`` for ``loss="logistic"``. Never modified.
    loss : {"least_squares", "logistic", "huber"}
        ``0.5 ||A x - b||^2``, ``sum_i log(1 + exp(-b_i a_i^T x))`` or
        ``sum_i huber_delta(a_i^T x - b_i)`` (unscaled: no ``1 / m``).
    penalty : ProxOperator
        A catalogue operator (e.g. ``L1(lam)``, ``Box(lower, upper)``); non-convex penalties
        (``mcp``, ``scad``, ``l0``) are handled by FISTA without momentum and certified by the KKT
        residual (a stationarity measure, not optimality).
    delta : float
        Huber threshold (``loss="huber"`` only).
    algorithm : {"auto", "fista", "admm", "pdhg"}
        ``auto`` is FISTA. ADMM and PDHG need a convex penalty.
    tol : float
        Stop when the relative certificate (see Notes) is ``<= tol``.
    max_iter : int
        Maximum number of iterations.
    monitor : Monitor, optional
        Polled every iteration; receives trace points (objective, the certificate's absolute and
        relative value, and the step or penalty parameter) on certified iterations it selects.

    Returns
    -------
    SolverResult
        ``solution = {"x": x}``, ``objective = P(x)`` and ``certificate`` with ``duality_gap``,
        ``relative_gap``, ``primal``, ``dual`` (or ``kkt_residual``, ``relative_kkt_residual``,
        ``primal``), all evaluated at the returned ``x``: the iterate that met the tolerance, or
        else the certified iterate of lowest ``P``.

    Raises
    ------
    ValueError
        On inconsistent shapes, non-real data, labels outside ``{-1, 1}`` for the logistic loss,
        an unknown loss or algorithm, ADMM/PDHG with a non-convex penalty, ``tol < 0`` or
        ``max_iter < 0``.

    Notes
    -----
    **FISTA** (``f(x) = L(A x)``): ``x_{k+1} = prox_{g/L_k}(y - grad f(y) / L_k)`` with the
    extrapolation and two-way backtracking of Scheinberg, Goldfarb & Bai (``L`` first shrinks by
    0.9, a failed sufficient-decrease test at least doubles it) and the gradient restart of
    O'Donoghue & Candès. The test first tries the loss's global curvature bound
    ``c_L ||A d||^2 <= L ||d||^2`` (exact, no cancellation; ``c_L = 1`` for least squares and
    Huber, ``1/4`` for logistic) and otherwise the actual Bregman divergence of ``L``. For least
    squares the gradient at the extrapolated point is the same affine combination of stored
    gradients, so an iteration costs two products; otherwise three (one at ``y``).

    **ADMM** in graph form (Parikh & Boyd, POGS): variables ``(x, y)`` with ``y = A x / alpha``
    (``alpha ~ ||A||_2``), alternating ``prox_g`` / ``prox_L`` (elementwise; Newton for the
    logistic loss) with the projection onto the graph of ``A / alpha``, whose matrix
    ``I + B^T B`` (or ``I + B B^T``) is inverted once and does not depend on ``rho``: residual
    balancing changes ``rho`` for free. For least squares this is the ``z = A x`` split with a
    cached solve.

    **PDHG** on the saddle ``g(x) + <A x, w> - L*(w)`` with the line search of Malitsky & Pock
    (steps grow by ``sqrt(1 + theta)`` and shrink by 0.7 until ``sqrt(beta) tau ||A^T dw|| <=
    0.99 ||dw||``; no norm of ``A`` needed) and the PDLP primal-weight rule
    ``omega <- exp(0.5 log(||dw|| / ||dx||) + 0.5 log omega)``, ``beta = omega^2``, every 50
    iterations.

    **Certificate.** When ``g`` is convex and ``0`` lies in the interior of ``dom g*`` (norms,
    bounded sets, strongly convex penalties), the Fenchel dual
    ``D(w) = -L*(w) - g*(-A^T w)`` is evaluated at ``w = s grad L(A x)`` with the largest
    ``s in (0, 1]`` that keeps ``g*(-A^T w)`` finite (bisection on ``conjugate_value``; for a norm
    this scales ``A^T w`` into the dual ball, as for the lasso; ``l1``, ``l2`` and ``linf``
    use their dual norm in closed form. The catalogue's conjugates accept points within a relative
    ``FEASIBILITY_RTOL = 1e-9`` of their domain, so for the other penalties the dual point may
    sit that far outside it). Scaling ``w`` toward 0 keeps
    ``L*(w)`` finite for all three losses. The gap is ``P(x) - D(w) >= P(x) - P*`` and
    ``relative_gap = gap / max(P(x), tiny)``. Otherwise (cones such as the orthant, penalties
    without a closed-form conjugate, non-convex penalties) the certificate is the prox-gradient
    residual ``||x - prox_{g/L}(x - grad f(x) / L)||_2 L`` relative to ``||grad f(x_0)||_2``.
    Least-squares FISTA certifies every iterate; the other combinations every 5 iterations
    (and the final iterate), since their certificate costs extra products.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, SIAM J. Imaging Sci. 2(1):183-202, 2009 (FISTA).
    .. [2] K. Scheinberg, D. Goldfarb and X. Bai, Found. Comput. Math. 14:389-417, 2014.
    .. [3] B. O'Donoghue and E. Candès, Found. Comput. Math. 15:715-732, 2015 (restart).
    .. [4] N. Parikh and S. Boyd, "Block splitting for distributed optimization", Math. Prog.
       Comp. 6:77-102, 2014; C. Fougner and S. Boyd, "Parameter selection and preconditioning for
       a graph form solver", 2018 (POGS).
    .. [5] B. Wohlberg, "ADMM penalty parameter selection by residual balancing", 2017; B.
       Stellato et al., "OSQP: an operator splitting solver for quadratic programs", Math. Prog.
       Comp. 12:637-672, 2020 (the square-root update).
    .. [6] Y. Malitsky and T. Pock, "A first-order primal-dual algorithm with linesearch", SIAM J.
       Optim. 28(1):411-432, 2018.
    .. [7] D. Applegate et al., "Practical large-scale linear programming using primal-dual hybrid
       gradient", NeurIPS 2021 (PDLP primal weight).
    """
    with np.errstate(all="ignore"):
        return _solve_composite(
            A,
            b,
            loss,
            penalty,
            delta=delta,
            algorithm=algorithm,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
        )


def _prepare_ls_data(xp: Any, A: Any, b: Any) -> tuple[Any, Any, np.dtype[Any]]:
    A = _as_real(xp, A, "A")
    b = _as_real(xp, b, "b")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {A.shape}")
    m, n = A.shape
    if m < 1 or n < 1:
        raise ValueError(f"A must be non-empty, got shape {A.shape}")
    if b.shape != (m,):
        raise ValueError(f"b must have shape ({m},), got {b.shape}")
    dtype = _float_dtype(A.dtype, b.dtype)
    # asarray copies only when the dtype changes; nothing below writes into A or b.
    return xp.asarray(A, dtype=dtype), xp.asarray(b, dtype=dtype), dtype


def _solve_composite(
    A: Any,
    b: Any,
    loss: str,
    penalty: ProxOperator,
    *,
    delta: float,
    algorithm: str,
    tol: float,
    max_iter: int,
    monitor: Monitor | None,
) -> SolverResult:
    started = time.perf_counter()
    xp = array_namespace(A, b)
    A, b, dtype = _prepare_ls_data(xp, A, b)
    tol = _check_common(tol, max_iter)
    if algorithm not in ("auto", "fista", "admm", "pdhg"):
        raise ValueError(f"unknown algorithm {algorithm!r}; expected auto, fista, admm or pdhg")
    convex = bool(getattr(penalty, "convex", False))
    if algorithm in ("admm", "pdhg") and not convex:
        raise ValueError(f"algorithm {algorithm!r} needs a convex penalty, got {penalty.name!r}")
    the_loss = _make_loss(xp, b, loss, float(delta))
    n = A.shape[1]
    # The starting point prox_g(0) lies in dom g (0 itself may not, e.g. for the simplex).
    x0 = xp.asarray(penalty.prox(xp.zeros(n, dtype=dtype), 1.0), dtype=dtype)
    g0 = A.T @ the_loss.grad(A @ x0)
    g0_inf, g0_2 = to_host(xp, xp.max(xp.abs(g0)), xp.sqrt(xp.dot(g0, g0)))
    mode = _certificate_mode(xp, penalty, n, dtype, g0_inf)
    certifier = _Certifier(xp, the_loss, penalty, mode)
    certifier.grad_scale = g0_2
    problem = _Problem(xp, A, b, the_loss, penalty.prox, certifier, momentum=convex)
    problem.matvecs += 2
    norm2, spent = _norm2_estimate(xp, A, dtype)
    problem.matvecs += spent
    if not (math.isfinite(norm2) and norm2 > 0.0):
        norm2 = 1.0

    chosen = "fista" if algorithm == "auto" else algorithm
    cheap = the_loss.quadratic and mode == "gap"
    if chosen == "fista":
        run = _fista(
            problem,
            x0,
            L0=the_loss.smooth * norm2,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            cert_every=_CERT_EVERY_CHEAP if cheap else _CERT_EVERY_NONQUADRATIC,
        )
    elif chosen == "admm":
        run = _admm(
            problem,
            penalty,
            x0,
            norm2=norm2,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            cert_every=_CERT_EVERY_SPLITTING,
        )
    else:
        run = _pdhg(
            problem,
            x0,
            norm2=norm2,
            tol=tol,
            max_iter=max_iter,
            monitor=monitor,
            cert_every=_CERT_EVERY_SPLITTING,
        )
    return _result(
        run,
        started=started,
        tol=tol,
        max_iter=max_iter,
        algorithm=chosen,
        loss=loss,
        penalty=penalty.name,
        matvecs=problem.matvecs,
    )
