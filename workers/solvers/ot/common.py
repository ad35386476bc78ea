r"""Shared pieces of the optimal-transport solvers: validation, support, plans and certificates.

All solvers use POT's convention for the entropic problem,

.. math::

    \min_{P \in U(a, b)} \; \langle P, C \rangle + \varepsilon \sum_{ij} P_{ij} (\log P_{ij} - 1),
    \qquad U(a, b) = \{P \ge 0 : P \mathbf 1 = a, \; P^\top \mathbf 1 = b\},

whose concave dual (the Lyapunov potential that Sinkhorn maximises block by block) is

.. math::

    D(f, g) = \langle f, a \rangle + \langle g, b \rangle
        - \varepsilon \sum_{ij} \exp\bigl((f_i + g_j - C_{ij}) / \varepsilon\bigr),

with the primal-dual link :math:`P_{ij} = \exp((f_i + g_j - C_{ij}) / \varepsilon)`. A returned plan
is always formed from the returned potentials through that formula, with the exponent computed in
the log domain, so nothing overflows or turns to NaN however small :math:`\varepsilon` is, and its
certificate is computed from that plan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from workers.solvers.result import SolverResult, SolverStatus

__all__ = [
    "MASS_RTOL",
    "Certificate",
    "OTProblem",
    "as_real_array",
    "balance_gauge",
    "entropic_certificate",
    "expand_plan",
    "expand_potentials",
    "infeasible_result",
    "mass_mismatch_message",
    "masses_match",
    "plan_from_potentials",
    "prepare_problem",
    "restrict_start",
    "to_host",
]


# Masses that differ by more than this (relative) make the balanced problem infeasible; below it
# the difference is taken for round-off in the caller's normalisation (see prepare_problem).
MASS_RTOL = 1e-9


def to_host(xp: Any, *values: Any) -> list[float]:
    """Several 0-d device scalars as Python floats, in one device-to-host transfer."""
    if xp is np or not values:
        return [float(v) for v in values]
    return [float(v) for v in xp.stack([xp.asarray(v) for v in values]).tolist()]


def as_real_array(xp: Any, x: Any, name: str) -> Any:
    """``x`` as a float64 array of ``xp`` (a copy only when the dtype or module changes)."""
    arr = xp.asarray(x)
    kind = np.dtype(arr.dtype).kind
    if kind == "c":
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    # float64 always: at small epsilon the exponents (f + g - C) / eps are differences of numbers
    # of size max(C) / eps, and float32 would leave no significant digit in the plan.
    return xp.asarray(arr, dtype=xp.float64)


@dataclass
class OTProblem:
    """A validated balanced or unbalanced instance, restricted to the support of ``a`` and ``b``.

    Rows with ``a_i = 0`` and columns with ``b_j = 0`` carry no mass in any plan (balanced case) or
    in the optimal plan (KL-relaxed case, where ``KL(p | 0)`` is infinite for ``p > 0``), so they
    are removed before solving and given potential ``-inf`` and zero plan entries afterwards.
    """

    xp: Any
    a: Any  # (n_s,) masses on the support of the caller's a, all > 0
    b: Any  # (m_s,)
    C: Any  # (n_s, m_s) C-contiguous float64; the caller's array itself when nothing is removed
    rows: Any  # indices of the support of a in the caller's a, or None when it is all of it
    cols: Any
    n: int  # the caller's sizes
    m: int
    mass_a: float
    mass_b: float

    @property
    def full(self) -> bool:
        return self.rows is None and self.cols is None


def prepare_problem(a: Any, b: Any, C: Any, *, xp: Any) -> OTProblem:
    """Validate ``a``, ``b``, ``C`` and restrict them to the support (no mass check here).

    Raises
    ------
    ValueError
        On wrong shapes, non-real or non-finite data, negative masses or zero total mass.
    """
    a = as_real_array(xp, a, "a")
    b = as_real_array(xp, b, "b")
    C = as_real_array(xp, C, "C")
    if C.ndim != 2:
        raise ValueError(f"C must be 2-D, got shape {C.shape}")
    n, m = C.shape
    if n < 1 or m < 1:
        raise ValueError(f"C must be non-empty, got shape {C.shape}")
    if a.shape != (n,):
        raise ValueError(f"a must have shape ({n},), got {a.shape}")
    if b.shape != (m,):
        raise ValueError(f"b must have shape ({m},), got {b.shape}")
    a_min, b_min, a_sum, b_sum, c_ok = to_host(
        xp, xp.min(a), xp.min(b), xp.sum(a), xp.sum(b), xp.all(xp.isfinite(C))
    )
    if not (math.isfinite(a_sum) and math.isfinite(b_sum)):
        raise ValueError("a and b must be finite")
    if a_min < 0.0 or b_min < 0.0:
        raise ValueError("a and b must be non-negative")
    if not (a_sum > 0.0 and b_sum > 0.0):
        raise ValueError("a and b must have positive total mass")
    if not c_ok:
        raise ValueError("C must be finite")

    rows = cols = None
    if a_min == 0.0:
        rows = xp.flatnonzero(a > 0.0)
        a = a[rows]
    if b_min == 0.0:
        cols = xp.flatnonzero(b > 0.0)
        b = b[cols]
    if rows is not None and cols is not None:
        C = C[rows][:, cols]
    elif rows is not None:
        C = C[rows]
    elif cols is not None:
        C = C[:, cols]
    # A copy only when the caller's C is not C-contiguous float64; never written to.
    C = xp.ascontiguousarray(C)
    return OTProblem(xp, a, b, C, rows, cols, n, m, a_sum, b_sum)


def expand_potentials(prob: OTProblem, f: Any, g: Any) -> tuple[Any, Any]:
    """Potentials on the caller's index sets: ``-inf`` off the support (so ``exp`` gives 0)."""
    xp = prob.xp
    if prob.rows is not None:
        full = xp.full(prob.n, -xp.inf)
        full[prob.rows] = f
        f = full
    if prob.cols is not None:
        full = xp.full(prob.m, -xp.inf)
        full[prob.cols] = g
        g = full
    return f, g


def expand_plan(prob: OTProblem, P: Any) -> Any:
    """A plan on the support as an ``(n, m)`` plan with zero rows/columns off the support."""
    if prob.full:
        return P
    xp = prob.xp
    full = xp.zeros((prob.n, prob.m))
    if prob.rows is not None and prob.cols is not None:
        full[prob.rows[:, None], prob.cols[None, :]] = P
    elif prob.rows is not None:
        full[prob.rows] = P
    else:
        full[:, prob.cols] = P
    return full


def restrict_start(prob: OTProblem, f0: Any, g0: Any) -> tuple[Any, Any]:
    """Validated starting potentials on the support (copies; ``None`` stays ``None``)."""
    xp = prob.xp
    out: list[Any] = []
    for x, size, idx, name in ((f0, prob.n, prob.rows, "f0"), (g0, prob.m, prob.cols, "g0")):
        if x is None:
            out.append(None)
            continue
        arr = as_real_array(xp, x, name)
        if arr.shape != (size,):
            raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
        arr = xp.array(arr if idx is None else arr[idx], copy=True)
        if not bool(xp.all(xp.isfinite(arr))):
            raise ValueError(f"{name} must be finite on the support of the masses")
        out.append(arr)
    return out[0], out[1]


@dataclass(frozen=True)
class Certificate:
    """Objective values and optimality measures of one pair of potentials (host floats)."""

    marginal_error: float  # ||P1 - a||_1 + ||P^T 1 - b||_1
    primal: float  # <P, C> + eps sum P (log P - 1)
    dual: float  # D(f, g)
    gap: float  # primal - dual
    transport_cost: float  # <P, C>

    def finite(self) -> bool:
        return all(
            math.isfinite(v)
            for v in (self.marginal_error, self.primal, self.dual, self.gap, self.transport_cost)
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "marginal_error_l1": self.marginal_error,
            "dual_gap": self.gap,
            "transport_cost": self.transport_cost,
            "primal_objective": self.primal,
            "dual_objective": self.dual,
        }


def plan_from_potentials(
    xp: Any, f: Any, g: Any, C: Any, eps: float, out: Any = None, Cs: Any = None
) -> Any:
    """``P_ij = exp((f_i + g_j - C_ij) / eps)`` into ``out`` (allocated when ``None``);
    ``Cs = C / eps`` saves a pass when the caller has it."""
    if out is None:
        out = xp.empty(C.shape)
    if Cs is None:
        xp.add(f[:, None], g[None, :], out=out)
        xp.subtract(out, C, out=out)
        xp.multiply(out, 1.0 / eps, out=out)
    else:
        xp.add((f / eps)[:, None], (g / eps)[None, :], out=out)
        xp.subtract(out, Cs, out=out)
    xp.exp(out, out=out)
    return out


def entropic_certificate(
    xp: Any,
    f: Any,
    g: Any,
    C: Any,
    a: Any,
    b: Any,
    eps: float,
    out: Any = None,
    Cs: Any = None,
) -> tuple[Certificate, Any]:
    r"""Certificate of the potentials ``(f, g)`` and the plan they define (returned too).

    With ``r = P 1``, ``c = P^T 1`` and ``log P_ij = (f_i + g_j - C_ij) / eps``,

    .. math::

        \text{primal}(P) = \langle P, C \rangle + \varepsilon \sum P (\log P - 1)
            = \langle f, r \rangle + \langle g, c \rangle - \varepsilon \textstyle\sum P,

    so the Lagrangian gap is ``primal - dual = <f, r - a> + <g, c - b>``; it is evaluated in that
    form, free of the cancellation between two nearly equal objective values, and it vanishes
    with the marginal error.
    """
    P = plan_from_potentials(xp, f, g, C, eps, out=out, Cs=Cs)
    r = xp.sum(P, axis=1)
    c = xp.ones(P.shape[0]) @ P
    err, mass, fr, gc, fa, gb, gap, cost = to_host(
        xp,
        xp.sum(xp.abs(r - a)) + xp.sum(xp.abs(c - b)),
        xp.sum(r),
        xp.dot(f, r),
        xp.dot(g, c),
        xp.dot(f, a),
        xp.dot(g, b),
        xp.dot(f, r - a) + xp.dot(g, c - b),
        xp.vdot(P.ravel(), C.ravel()),
    )
    primal = fr + gc - eps * mass
    dual = fa + gb - eps * mass
    return Certificate(err, primal, dual, gap, cost), P


def balance_gauge(xp: Any, f: Any, g: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """Shift ``(f + k, g - k)`` (which changes neither the plan nor the dual) so that
    ``<f, a> = <g, b>``: potentials of similar size keep ``<f, r> + <g, c>`` free of
    cancellation."""
    fa, gb, ma, mb = to_host(xp, xp.dot(f, a), xp.dot(g, b), xp.sum(a), xp.sum(b))
    k = 0.5 * (gb - fa) / max(0.5 * (ma + mb), np.finfo(np.float64).tiny)
    if not math.isfinite(k):
        return f, g
    return f + k, g - k


def elapsed(started: float) -> float:
    return time.perf_counter() - started


def infeasible_result(
    prob: OTProblem, started: float, reason: str, *, with_plan: bool = True
) -> SolverResult:
    """The result for a balanced instance whose masses differ: no plan exists."""
    xp = prob.xp
    gap = abs(prob.mass_a - prob.mass_b)
    solution: dict[str, Any] = {
        "f": xp.full(prob.n, math.nan),
        "g": xp.full(prob.m, math.nan),
        "plan": xp.zeros((prob.n, prob.m)) if with_plan else None,
        "transport_cost": math.nan,
    }
    return SolverResult(
        status=SolverStatus.INFEASIBLE,
        objective=math.nan,
        iterations=0,
        solve_time_s=elapsed(started),
        certificate={"marginal_error_l1": gap, "mass_difference": gap},
        solution=solution,
        message=reason,
    )


def mass_mismatch_message(mass_a: float, mass_b: float) -> str:
    return (
        f"sum(a) = {mass_a!r} and sum(b) = {mass_b!r} differ by more than {MASS_RTOL:g} relative: "
        "no plan has both marginals (normalise them, or use the unbalanced solver)"
    )


def masses_match(mass_a: float, mass_b: float) -> bool:
    return abs(mass_a - mass_b) <= MASS_RTOL * max(mass_a, mass_b)
