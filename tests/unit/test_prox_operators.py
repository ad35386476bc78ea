"""The proximal-operator catalogue against independent references.

* convex operators: the prox against cvxpy + Clarabel (tight tolerances) solving
  ``min f(u) + ||u - x||^2 / (2 t)``, and against the optimality condition written out by hand per
  operator (subgradient or variational inequality, with support functions coded here afresh);
* conjugates: Fenchel-Young equality at prox points, the inequality at random pairs, and points
  outside the dual domain; the Moreau identity through pairs ``(f, f*)`` whose two proxes are
  computed by *different* operators (so the identity is a real test, not ``Conjugate``'s own
  formula read back);
* the nonconvex penalties against a two-level grid search per coordinate, the k-group projection
  against enumeration of supports; the sort-based and linear-time breakpoint searches against each
  other; the 1-D TV against cvxpy and its KKT conditions on many random signals.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from workers.solvers.backend import gpu_available
from workers.solvers.prox import operators as ops
from workers.solvers.prox.projections import clip_sum_root, project_simplex
from workers.solvers.prox.tv1d import tv1d_prox

CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
STEPS = (1.0, 0.37)
N = 8
LABELS = np.array([0, 0, 1, 1, 1, 2, 3, 3])
GROUP_IDX = [np.flatnonzero(LABELS == g) for g in range(4)]
GROUP_W = np.array([1.0, 0.5, 2.0, 1.5])
BLOCKS = [np.array([0, 2]), np.array([3, 4, 5]), np.array([7])]  # 1 and 6 unpenalised
A_VEC = np.array([1.0, -2.0, 0.5, 0.0, 1.0, 3.0, -1.0, 0.25])
LOWER = np.array([-1.0, -0.5, 0.0, -np.inf, -2.0, 0.0, -1.0, -0.3])
UPPER = np.array([1.0, 0.5, np.inf, 0.0, 2.0, 0.0, 0.5, 0.3])
WEIGHTS = np.array([0.5, 0.0, 1.0, 2.0, 0.25, 0.5, 1.0, 0.5])
RNG = np.random.default_rng(20240611)
RANDOM_VECS = [RNG.standard_normal(N) * 2.0 for _ in range(2)]
TIES = np.array([1.0, -1.0, 1.0, 0.0, 0.0, 0.5, -0.5, 2.0])  # equal magnitudes, zeros


def scale_of(x: np.ndarray) -> float:
    return max(1.0, float(np.abs(x).max()))


def close(a: Any, b: Any, scale: float, rtol: float = 1e-9) -> bool:
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= rtol * scale))


# --------------------------------------------------------------------------------------------------
# Cases: operator, inputs, cvxpy model of f, hand-written optimality check
# --------------------------------------------------------------------------------------------------

Model = Callable[[Any], tuple[Any, list[Any]]]  # u -> (expression of f(u), constraints)
Check = Callable[[Any, np.ndarray, np.ndarray, float], None]  # (op, x, p, t) -> asserts


@dataclass
class Case:
    op: ops.ProxOperator
    inputs: list[np.ndarray]
    model: Model
    check: Check
    shape: tuple[int, ...] = (N,)
    var_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.op.name


def l1_condition(g: np.ndarray, p: np.ndarray, w: Any, scale: float) -> None:
    w = np.broadcast_to(np.asarray(w, dtype=float), p.shape)
    nz = p != 0
    assert close(g[nz], w[nz] * np.sign(p[nz]), scale)
    assert np.all(np.abs(g[~nz]) <= w[~nz] + 1e-9 * scale)


def check_l1(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    l1_condition((x - p) / t, p, op.lam, scale_of(x) / t)


def check_weighted_l1(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    l1_condition((x - p) / t, p, WEIGHTS, scale_of(x) / t)


def check_elastic_net(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    l1_condition((x - p) / t - op.l2 * p, p, op.lam, scale_of(x) / t)


def ball_condition(g: np.ndarray, p: np.ndarray, radius: float, scale: float) -> None:
    """``g`` in ``radius * d||.||_2 (p)``."""
    norm = np.linalg.norm(p)
    if norm == 0:
        assert np.linalg.norm(g) <= radius + 1e-9 * scale
    else:
        assert close(g, radius * p / norm, scale)


def check_l2(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    ball_condition((x - p) / t, p, op.lam, scale_of(x) / t)


def check_squared_l2(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    assert close((x - p) / t, op.lam * p, scale_of(x) / t)


def check_linf(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    g, s = (x - p) / t, scale_of(x) / t
    if not np.any(p):
        assert np.abs(g).sum() <= op.lam + 1e-9 * s
        return
    top = np.abs(p).max()
    assert close(np.abs(g).sum(), op.lam, s)
    assert close(g @ p, op.lam * top, s * scale_of(x))
    assert np.all(g * p >= -1e-9 * s * scale_of(x))
    assert np.all(np.abs(g[np.abs(p) < top * (1 - 1e-9)]) <= 1e-9 * s)


def check_group(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    g, s = (x - p) / t, scale_of(x) / t
    w = np.sqrt([idx.size for idx in GROUP_IDX]) if op.name == "group_l1" else np.ones(4)
    for idx, wg in zip(GROUP_IDX, w, strict=True):
        ball_condition(g[idx], p[idx], op.lam * wg, s)


def check_sum_of_norms(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    g, s = (x - p) / t, scale_of(x) / t
    for idx in BLOCKS:
        ball_condition(g[idx], p[idx], op.lam, s)
    free = np.setdiff1d(np.arange(N), np.concatenate(BLOCKS))
    assert close(g[free], 0.0, s)


def ksupport_sq(rho: np.ndarray, k: int) -> float:
    """Squared k-support norm by the sorted closed form of Argyriou et al. (2012), Prop. 2.1."""
    r = np.sort(np.abs(rho))[::-1]
    if k >= r.size:
        return float(r @ r)
    for q in range(k):
        tail = r[k - q - 1 :].sum()
        prev = math.inf if k - q - 2 < 0 else r[k - q - 2]
        if prev > tail / (q + 1) >= r[k - q - 1] * (1 - 1e-12):
            return float(r[: k - q - 1] @ r[: k - q - 1] + tail**2 / (q + 1))
    raise AssertionError("no index satisfies the k-support condition")


def group_norms(v: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(v[idx]) for idx in GROUP_IDX])


def check_envelope(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    """``g = (x - p)/t`` in ``lam d(N^2/2)(p)``: ``N*(g) = lam N(p)`` and ``<g,p> = lam N(p)^2``
    with ``N`` the k-support norm of ``sqrt(w_g) ||p_g||`` and ``N*`` the top-k l2 norm of
    ``||g_g|| / sqrt(w_g)``."""
    g, s = (x - p) / t, scale_of(x) / t
    k = op.budget.k
    n_p = math.sqrt(ksupport_sq(np.sqrt(GROUP_W) * group_norms(p), k))
    dual = np.sort(group_norms(g) ** 2 / GROUP_W)[::-1][:k].sum() ** 0.5
    assert close(dual, op.lam * n_p, s)
    assert close(g @ p, op.lam * n_p**2, s * scale_of(x))


def check_nuclear(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    g, s = (x - p) / t, scale_of(x) / t
    assert np.linalg.norm(g, 2) <= op.lam + 1e-9 * s
    assert close(np.sum(g * p), op.lam * np.linalg.norm(p, "nuc"), s * scale_of(x))


def check_huber(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    assert close((x - p) / t, np.clip(p, -op.delta, op.delta), scale_of(x) / t)


def check_hinge(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    g, s = (x - p) / t, scale_of(x) / t
    below, above = p < 1 - 1e-12, p > 1 + 1e-12
    assert close(g[below], -1.0, s) and close(g[above], 0.0, s)
    on = ~(below | above)
    assert np.all((g[on] >= -1 - 1e-9 * s) & (g[on] <= 1e-9 * s))


def set_condition(support: Callable[[np.ndarray], float]) -> Check:
    """Variational inequality for a projection: ``p`` feasible and ``sigma_C(x - p) <= <x - p, p>``
    (equivalently ``<x - p, y - p> <= 0`` for every ``y`` in ``C``)."""

    def check(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
        assert op.value(p) == 0.0
        g = x - p
        assert support(g) <= float(np.sum(g * p)) + 1e-9 * scale_of(x) ** 2

    return check


def support_box(g: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        terms = np.where(g > 0, g * UPPER, np.where(g < 0, g * LOWER, 0.0))
    return float(terms.sum())


def support_nonneg(g: np.ndarray) -> float:
    return 0.0 if g.max() <= 1e-12 else math.inf


def support_span(a: np.ndarray, beta: float, sign: bool) -> Callable[[np.ndarray], float]:
    def support(g: np.ndarray) -> float:
        mu = g @ a / (a @ a)
        if np.linalg.norm(g - mu * a) > 1e-9 * scale_of(g) or (sign and mu < -1e-12):
            return math.inf
        return beta * mu

    return support


def support_psd(g: np.ndarray) -> float:
    return 0.0 if np.linalg.eigvalsh(0.5 * (g + g.T)).max() <= 1e-9 * scale_of(g) else math.inf


def check_tv1d(op: Any, x: np.ndarray, p: np.ndarray, t: float) -> None:
    tv_kkt(x, p, t * op.lam)


def tv_kkt(y: np.ndarray, p: np.ndarray, lam: float) -> None:
    """``y - p = D^T v`` with ``|v| <= lam`` and ``v_j = lam sign(p_{j+1} - p_j)`` on jumps."""
    g = y - p
    s = max(1.0, float(np.abs(y).sum()))
    assert abs(g.sum()) <= 1e-9 * s
    v = -np.cumsum(g)[:-1]
    assert np.all(np.abs(v) <= lam + 1e-9 * s)
    jump = np.abs(np.diff(p)) > 1e-12 * s
    assert close(v[jump], lam * np.sign(np.diff(p)[jump]), s)


def model_groups(lam: float, weights: np.ndarray, index: list[np.ndarray]) -> Model:
    return lambda u: (
        lam * sum(w * cp.norm(u[i], 2) for w, i in zip(weights, index, strict=True)),
        [],
    )


def model_envelope(lam: float, k: int) -> Model:
    def model(u: Any) -> tuple[Any, list[Any]]:
        theta = cp.Variable(len(GROUP_IDX))
        terms = [
            0.5 * w * cp.quad_over_lin(u[i], theta[g])
            for g, (w, i) in enumerate(zip(GROUP_W, GROUP_IDX, strict=True))
        ]
        return lam * sum(terms), [theta >= 0, theta <= 1, cp.sum(theta) <= k]

    return model


PSD_X = RNG.standard_normal((4, 4))
SYM = PSD_X + PSD_X.T
MAT = RNG.standard_normal((4, 3))
SIMPLEX_INSIDE = np.array([0.2, 0.0, 0.3, 0.1, 0.0, 0.25, 0.15, 0.0])
ON_PLANE = RNG.standard_normal(N)
ON_PLANE = ON_PLANE - (A_VEC @ ON_PLANE - 0.7) / (A_VEC @ A_VEC) * A_VEC

CASES = [
    Case(ops.L1(0.5), [*RANDOM_VECS, TIES], lambda u: (0.5 * cp.norm1(u), []), check_l1),
    Case(
        ops.WeightedL1(WEIGHTS),
        [*RANDOM_VECS, TIES],
        lambda u: (WEIGHTS @ cp.abs(u), []),
        check_weighted_l1,
    ),
    Case(
        ops.ElasticNet(0.5, 0.8),
        [*RANDOM_VECS, TIES],
        lambda u: (0.5 * cp.norm1(u) + 0.4 * cp.sum_squares(u), []),
        check_elastic_net,
    ),
    Case(
        ops.L2Norm(1.5),
        [*RANDOM_VECS, 0.1 * TIES],
        lambda u: (1.5 * cp.norm(u, 2), []),
        check_l2,
    ),
    Case(
        ops.SquaredL2(0.7),
        [*RANDOM_VECS, TIES],
        lambda u: (0.35 * cp.sum_squares(u), []),
        check_squared_l2,
    ),
    Case(
        ops.LinfNorm(1.3),
        [*RANDOM_VECS, TIES, 0.05 * TIES],
        lambda u: (1.3 * cp.norm_inf(u), []),
        check_linf,
    ),
    Case(
        ops.GroupL21(0.6, LABELS),
        [*RANDOM_VECS, TIES],
        model_groups(0.6, np.sqrt([i.size for i in GROUP_IDX]), GROUP_IDX),
        check_group,
    ),
    Case(
        ops.SumOfNorms(0.9, BLOCKS),
        [*RANDOM_VECS, TIES],
        model_groups(0.9, np.ones(3), BLOCKS),
        check_sum_of_norms,
    ),
    Case(
        ops.GroupSparseEnvelope(2, LABELS, GROUP_W, lam=0.8),
        [*RANDOM_VECS, TIES, np.array([1.0, 0, 0, 0, 0, 0, 0, -0.5])],
        model_envelope(0.8, 2),
        check_envelope,
    ),
    Case(
        ops.NuclearNorm(0.9),
        [MAT, np.outer([1.0, 2, 0, -1], [1.0, 0, 1])],
        lambda u: (0.9 * cp.normNuc(u), []),
        check_nuclear,
        shape=(4, 3),
    ),
    Case(
        ops.Huber(0.8),
        [*RANDOM_VECS, TIES],
        lambda u: (0.5 * cp.sum(cp.huber(u, 0.8)), []),
        check_huber,
    ),
    Case(
        ops.Hinge(),
        [*RANDOM_VECS, TIES, np.array([1.0, 0.63, 0.0, 1.0, 2.0, -1.0, 0.9, 1.5])],
        lambda u: (cp.sum(cp.pos(1 - u)), []),
        check_hinge,
    ),
    Case(
        ops.Box(LOWER, UPPER),
        [*RANDOM_VECS, TIES, np.clip(RANDOM_VECS[0], LOWER, UPPER)],
        lambda u: (
            0,
            [
                u[np.isfinite(LOWER)] >= LOWER[np.isfinite(LOWER)],
                u[np.isfinite(UPPER)] <= UPPER[np.isfinite(UPPER)],
            ],
        ),
        set_condition(support_box),
    ),
    Case(
        ops.NonNeg(),
        [*RANDOM_VECS, TIES],
        lambda u: (0, [u >= 0]),
        set_condition(support_nonneg),
    ),
    Case(
        ops.Simplex(1.0),
        [*RANDOM_VECS, TIES, SIMPLEX_INSIDE, np.full(N, 3.0)],
        lambda u: (0, [u >= 0, cp.sum(u) == 1.0]),
        set_condition(lambda g: float(g.max())),
    ),
    Case(
        ops.L1Ball(2.0),
        [*RANDOM_VECS, TIES, 0.1 * TIES, TIES / np.abs(TIES).sum() * 2.0],
        lambda u: (0, [cp.norm1(u) <= 2.0]),
        set_condition(lambda g: 2.0 * float(np.abs(g).max())),
    ),
    Case(
        ops.L2Ball(1.5),
        [*RANDOM_VECS, 0.1 * TIES],
        lambda u: (0, [cp.norm(u, 2) <= 1.5]),
        set_condition(lambda g: 1.5 * float(np.linalg.norm(g))),
    ),
    Case(
        ops.LinfBall(0.75),
        [*RANDOM_VECS, TIES],
        lambda u: (0, [cp.norm_inf(u) <= 0.75]),
        set_condition(lambda g: 0.75 * float(np.abs(g).sum())),
    ),
    Case(
        ops.Hyperplane(A_VEC, 0.7),
        [*RANDOM_VECS, ON_PLANE],
        lambda u: (0, [A_VEC @ u == 0.7]),
        set_condition(support_span(A_VEC, 0.7, sign=False)),
    ),
    Case(
        ops.HalfSpace(A_VEC, 0.7),
        [*RANDOM_VECS, -RANDOM_VECS[0], ON_PLANE],
        lambda u: (0, [A_VEC @ u <= 0.7]),
        set_condition(support_span(A_VEC, 0.7, sign=True)),
    ),
    Case(
        ops.PSDCone(),
        [SYM, PSD_X, PSD_X @ PSD_X.T, -(PSD_X @ PSD_X.T)],
        lambda u: (0, [u >> 0]),
        set_condition(support_psd),
        shape=(4, 4),
        var_kwargs={"symmetric": True},
    ),
    Case(
        ops.TV1D(0.6),
        [*RANDOM_VECS, TIES, np.full(N, 1.5), np.repeat([0.0, 2.0], N // 2)],
        lambda u: (0.6 * cp.norm1(cp.diff(u)), []),
        check_tv1d,
    ),
]
CASE_IDS = [c.name for c in CASES]


def cvx_prox(case: Case, x: np.ndarray, t: float) -> np.ndarray:
    u = cp.Variable(case.shape, **case.var_kwargs)
    f, constraints = case.model(u)
    problem = cp.Problem(cp.Minimize(f + cp.sum_squares(u - x) / (2 * t)), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate", see below
        problem.solve(solver="CLARABEL", **CLARABEL)
    # at these tolerances Clarabel sometimes stops one notch short ("inaccurate"); the caller
    # measures the distance to the answer itself
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    return np.asarray(u.value)


def agrees_with_reference(
    op: ops.ProxOperator, x: np.ndarray, t: float, p: np.ndarray, ref: Any
) -> None:
    """``p`` within 1e-6 (relative) of the solver's ``ref``, or, where the solver is less accurate
    than that (interior-point iterates converge slowly onto kinks: ties, zeros, thresholds hit
    exactly), no worse than ``ref`` and as close to it as strong convexity demands of the exact
    minimiser: ``||ref - p*||^2 <= 2 t (phi(ref) - phi(p*))``."""
    s = scale_of(x)
    dist = float(np.abs(p - ref).max())
    if dist <= 1e-6 * s:
        return
    f_ref = op.value(ref)
    assert math.isfinite(f_ref), (x, t, p, ref)  # a set's projection must match to 1e-6
    phi_p = op.value(p) + np.sum((p - x) ** 2) / (2 * t)
    phi_ref = f_ref + np.sum((ref - x) ** 2) / (2 * t)
    assert phi_p <= phi_ref + 1e-12 * s * s, (x, t, p, ref)
    assert np.sum((p - ref) ** 2) <= 2 * t * (phi_ref - phi_p) + 1e-12 * s * s, (x, t, p, ref)
    assert dist <= 1e-4 * s  # and never far off


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_prox_matches_cvxpy(case: Case) -> None:
    for x, t in itertools.product(case.inputs, STEPS):
        p = case.op.prox(x, t)
        assert p.shape == x.shape and p.dtype == np.float64
        agrees_with_reference(case.op, x, t, p, cvx_prox(case, x, t))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_prox_optimality_condition(case: Case) -> None:
    rng = np.random.default_rng(7)
    extra = [rng.standard_normal(case.shape) * sc for sc in (0.1, 1.0, 5.0)]
    for x, t in itertools.product([*case.inputs, *extra], (*STEPS, 3.0)):
        p = case.op.prox(x, t)
        case.check(case.op, x, p, t)


# --------------------------------------------------------------------------------------------------
# Conjugates: Fenchel-Young, domains, Moreau
# --------------------------------------------------------------------------------------------------

CALCULUS = [
    ops.Scaled(ops.GroupL21(0.6, LABELS), 2.5),
    ops.Translated(ops.Huber(0.8), np.linspace(-1.0, 1.0, N)),
    ops.Translated(ops.L1Ball(2.0), np.linspace(-0.2, 0.2, N)),
    ops.OrthogonalPrecomposition(ops.L1(0.5), np.linalg.qr(RNG.standard_normal((N, N)))[0]),
    ops.Conjugate(ops.ElasticNet(0.5, 0.8)),
    ops.Conjugate(ops.LinfNorm(1.3)),
    ops.Scaled(ops.Simplex(2.0), 3.0),
]


def fy_gap(op: ops.ProxOperator, u: np.ndarray, z: np.ndarray) -> float:
    return op.value(u) + op.conjugate_value(z) - float(np.sum(u * z))


@pytest.mark.parametrize(
    "op", [c.op for c in CASES] + CALCULUS, ids=CASE_IDS + [repr(c) for c in CALCULUS]
)
def test_fenchel_young(op: ops.ProxOperator) -> None:
    case = next((c for c in CASES if c.op is op), None)
    shape = case.shape if case else (N,)
    rng = np.random.default_rng(11)
    inputs = list(case.inputs) if case else []
    inputs += [rng.standard_normal(shape) * sc for sc in (0.3, 3.0)]
    for x, t in itertools.product(inputs, (*STEPS, 2.0)):
        p = op.prox(x, t)
        g = (x - p) / t
        # equality exactly when g is a subgradient at p, i.e. p = prox_{tf}(x)
        gap = fy_gap(op, p, g)
        assert abs(gap) <= 1e-9 * scale_of(x) ** 2 / min(t, 1.0), (x, t, gap)
    # the inequality at unrelated pairs: f*(z) is never below <z, u> - f(u)
    for _ in range(20):
        u = op.prox(rng.standard_normal(shape) * 2.0, 1.0)  # a point of dom f
        z = rng.standard_normal(shape)
        assert fy_gap(op, u, z) >= -1e-9 * scale_of(u) * scale_of(z)


@pytest.mark.parametrize(
    ("op", "z_inside", "z_outside"),
    [
        (ops.L1(0.5), np.full(N, 0.5), np.r_[0.51, np.zeros(N - 1)]),
        (ops.L2Norm(1.5), np.r_[1.5, np.zeros(N - 1)], np.r_[1.5 * 1.001, np.zeros(N - 1)]),
        (ops.LinfNorm(1.0), np.r_[0.5, -0.5, np.zeros(N - 2)], np.r_[0.5, -0.51, np.zeros(N - 2)]),
        (
            ops.GroupL21(1.0, LABELS),
            np.r_[np.sqrt(2) * np.array([0.6, 0.8]), np.zeros(6)],
            np.r_[1.01 * np.sqrt(2) * np.array([0.6, 0.8]), np.zeros(6)],
        ),
        (ops.SumOfNorms(1.0, BLOCKS), np.r_[0.6, 0, 0.8, np.zeros(5)], np.r_[0, 1e-3, np.zeros(6)]),
        (ops.NonNeg(), -np.abs(TIES), np.r_[1e-3, -np.ones(N - 1)]),
        (ops.Hinge(), np.r_[-1.0, 0.0, -0.5, np.zeros(N - 3)], np.r_[-1.01, np.zeros(N - 1)]),
        (ops.Huber(0.8), np.full(N, -0.8), np.r_[0.81, np.zeros(N - 1)]),
        (ops.Hyperplane(A_VEC, 0.7), -2.0 * A_VEC, A_VEC + np.r_[0, 0, 0, 1e-3, np.zeros(4)]),
        (ops.HalfSpace(A_VEC, 0.7), 2.0 * A_VEC, -2.0 * A_VEC),
        (
            ops.TV1D(0.6),
            np.r_[0.6, -1.2, 0.6, np.zeros(N - 3)],
            np.r_[0.6, -0.6, 1e-3, np.zeros(N - 3)],
        ),
        (
            ops.TV1D(0.6),
            np.r_[0.6, -1.2, 0.6, np.zeros(N - 3)],
            np.r_[0.61, -0.61, np.zeros(N - 2)],
        ),
        (
            ops.Box(LOWER, UPPER),
            np.r_[1.0, 1.0, 0.0, 1.0, 0, 5.0, 0, 0],
            np.r_[0, 0, 1e-3, 0, 0, 0, 0, 0],
        ),
        (ops.SquaredL2(0.0), np.zeros(N), np.r_[1e-3, np.zeros(N - 1)]),
        (ops.ElasticNet(0.5, 0.0), np.full(N, -0.5), np.r_[0.51, np.zeros(N - 1)]),
        (ops.L0(1.0), np.zeros(N), np.r_[1e-3, np.zeros(N - 1)]),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_conjugate_domain(
    op: ops.ProxOperator, z_inside: np.ndarray, z_outside: np.ndarray
) -> None:
    assert math.isfinite(op.conjugate_value(z_inside))
    assert op.conjugate_value(z_outside) == math.inf


def test_conjugate_matrix_domains() -> None:
    nuc = ops.NuclearNorm(0.9)
    u, _, vt = np.linalg.svd(MAT, full_matrices=False)
    assert nuc.conjugate_value(0.9 * u @ vt) == 0.0  # spectral norm exactly 0.9
    assert nuc.conjugate_value(0.901 * u @ vt) == math.inf
    psd = ops.PSDCone()
    nsd = -(PSD_X @ PSD_X.T)
    assert psd.conjugate_value(nsd + (PSD_X - PSD_X.T)) == 0.0  # antisymmetric part is free
    shift = np.linalg.eigvalsh(-nsd).min() + 1e-3
    assert psd.conjugate_value(nsd + shift * np.eye(4)) == math.inf  # largest eigenvalue 1e-3


def huber_conj_prox(x: np.ndarray, s: float) -> np.ndarray:
    return np.clip(x / (1 + s), -0.8, 0.8)  # argmin s(z^2/2) + (z-x)^2/2 on |z| <= 0.8


def elastic_conj_prox(x: np.ndarray, s: float) -> np.ndarray:
    lam, mu = 0.5, 0.8  # argmin s (|z| - lam)_+^2 / (2 mu) + (z - x)^2 / 2
    return np.where(np.abs(x) <= lam, x, np.sign(x) * (np.abs(x) + s * lam / mu) / (1 + s / mu))


MOREAU_PAIRS: list[tuple[ops.ProxOperator, Callable[[np.ndarray, float], np.ndarray]]] = [
    (ops.L1(0.5), lambda x, s: ops.LinfBall(0.5).prox(x)),
    (ops.LinfBall(0.5), lambda x, s: ops.L1(0.5).prox(x, s)),
    (ops.L2Norm(1.5), lambda x, s: ops.L2Ball(1.5).prox(x)),
    (ops.L2Ball(1.5), lambda x, s: ops.L2Norm(1.5).prox(x, s)),
    (ops.LinfNorm(1.3), lambda x, s: ops.L1Ball(1.3).prox(x)),
    (ops.L1Ball(1.3), lambda x, s: ops.LinfNorm(1.3).prox(x, s)),
    (ops.SquaredL2(0.7), lambda x, s: ops.SquaredL2(1 / 0.7).prox(x, s)),
    (ops.WeightedL1(WEIGHTS), lambda x, s: ops.Box(-WEIGHTS, WEIGHTS).prox(x)),
    (ops.NonNeg(), lambda x, s: ops.Box(-np.inf, 0.0).prox(x)),
    (ops.Huber(0.8), huber_conj_prox),
    (ops.Hinge(), lambda x, s: np.clip(x - s, -1.0, 0.0)),
    (ops.ElasticNet(0.5, 0.8), elastic_conj_prox),
]


@pytest.mark.parametrize(("f", "conj_prox"), MOREAU_PAIRS, ids=[f.name for f, _ in MOREAU_PAIRS])
def test_moreau_identity(f: ops.ProxOperator, conj_prox: Callable[..., np.ndarray]) -> None:
    """``x = prox_{s f}(x) + s prox_{f*/s}(x/s)`` with ``prox_{f*}`` from an independent operator,
    and ``Conjugate(f)`` reproducing that independent prox."""
    rng = np.random.default_rng(3)
    for x, s in itertools.product([rng.standard_normal(N) * 2, TIES, np.zeros(N)], (1.0, 0.3, 2.5)):
        assert close(f.prox(x, s) + s * conj_prox(x / s, 1 / s), x, scale_of(x))
        assert close(ops.Conjugate(f).prox(x, s), conj_prox(x, s), scale_of(x))


def test_moreau_psd() -> None:
    s = 0.5 * (SYM + SYM.T)
    nsd_part = ops.Conjugate(ops.PSDCone()).prox(s, 2.0)
    assert close(nsd_part, -ops.PSDCone().prox(-s), scale_of(s))
    assert close(ops.PSDCone().prox(s) + nsd_part, s, scale_of(s))
    assert np.linalg.eigvalsh(nsd_part).max() <= 1e-12 * scale_of(s)


def _clip_blocks(x: np.ndarray, blocks: list[np.ndarray], radii: list[float]) -> np.ndarray:
    """Projection onto ``{z : ||z_b|| <= r_b}``, zero outside the blocks."""
    z = np.zeros_like(x)
    for idx, r in zip(blocks, radii, strict=True):
        nb = float(np.linalg.norm(x[idx]))
        z[idx] = x[idx] * min(1.0, r / nb) if nb > 0 else 0.0
    return z


def _box_support_prox(x: np.ndarray, s: float) -> np.ndarray:
    """prox of ``s * sigma_box``, ``sigma_box(z) = sum_i max(u_i z_i, l_i z_i)`` (l <= 0 <= u)."""
    with np.errstate(invalid="ignore"):
        return np.where(x > s * UPPER, x - s * UPPER, np.where(x < s * LOWER, x - s * LOWER, 0.0))


def _line_prox(x: np.ndarray, s: float, beta: float, nonneg: bool) -> np.ndarray:
    """prox of ``s f*`` with ``f*(t a) = beta t`` (t >= 0 for the half-space), inf off the line."""
    t = (A_VEC @ x - s * beta) / (A_VEC @ A_VEC)
    return (max(t, 0.0) if nonneg else t) * A_VEC


MOREAU_CLOSED_FORMS: list[tuple[ops.ProxOperator, Callable[[np.ndarray, float], np.ndarray]]] = [
    (
        ops.GroupL21(0.7, LABELS, GROUP_W),
        lambda x, s: _clip_blocks(x, GROUP_IDX, list(0.7 * GROUP_W)),
    ),
    (ops.SumOfNorms(0.6, BLOCKS), lambda x, s: _clip_blocks(x, BLOCKS, [0.6] * len(BLOCKS))),
    (ops.Box(LOWER, UPPER), _box_support_prox),
    (ops.Hyperplane(A_VEC, 0.8), lambda x, s: _line_prox(x, s, 0.8, nonneg=False)),
    (ops.HalfSpace(A_VEC, 0.8), lambda x, s: _line_prox(x, s, 0.8, nonneg=True)),
]


@pytest.mark.parametrize(
    ("f", "conj_prox"), MOREAU_CLOSED_FORMS, ids=[f.name for f, _ in MOREAU_CLOSED_FORMS]
)
def test_moreau_identity_closed_form_conjugates(
    f: ops.ProxOperator, conj_prox: Callable[..., np.ndarray]
) -> None:
    test_moreau_identity(f, conj_prox)


def _cvxpy_conj_prox(conj: Callable[[cp.Variable], Any]) -> Callable[[np.ndarray, float], Any]:
    """prox of ``s f*`` by Clarabel, with ``f*`` written out as a cvxpy expression."""

    def prox(x: np.ndarray, s: float) -> np.ndarray:
        z = cp.Variable(x.size)
        value, constraints = conj(z)
        cp.Problem(cp.Minimize(s * value + 0.5 * cp.sum_squares(z - x)), constraints).solve(
            solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
        )
        return np.asarray(z.value)

    return prox


def _tv_conjugate(z: cp.Variable) -> tuple[Any, list[Any]]:
    # (lam ||D x||_1)^* is the indicator of {D^T u : ||u||_inf <= lam}
    u = cp.Variable(N - 1)
    return 0, [z == cp.hstack([-u[0], u[:-1] - u[1:], u[-1]]), cp.abs(u) <= 0.6]


MOREAU_CVXPY = [
    # sigma of {x >= 0, sum x = r} is r max_i z_i
    (ops.Simplex(1.5), lambda z: (1.5 * cp.max(z), []), 1e-6),
    # (lam F)^* = (1 / (2 lam)) * sum of the k largest ||z_g||^2 / w_g
    (
        ops.GroupSparseEnvelope(2, LABELS, GROUP_W, lam=0.8),
        lambda z: (
            cp.sum_largest(
                cp.hstack(
                    [cp.sum_squares(z[i]) / w for i, w in zip(GROUP_IDX, GROUP_W, strict=True)]
                ),
                2,
            )
            / 1.6,
            [],
        ),
        # Clarabel's solution of this SOC form is good to ~1e-5 (its prox objective is 1e-9
        # above ours where they differ most)
        1e-4,
    ),
    (ops.TV1D(0.6), _tv_conjugate, 1e-6),
]


@pytest.mark.parametrize(
    ("f", "conj", "rtol"), MOREAU_CVXPY, ids=[case[0].name for case in MOREAU_CVXPY]
)
def test_moreau_identity_against_cvxpy_conjugates(
    f: ops.ProxOperator, conj: Callable[[cp.Variable], Any], rtol: float
) -> None:
    """As :func:`test_moreau_identity`, with the conjugate's prox solved by Clarabel from the
    conjugate's formula (to interior-point accuracy, ``rtol``)."""
    conj_prox = _cvxpy_conj_prox(conj)
    rng = np.random.default_rng(4)
    for x, s in itertools.product([rng.standard_normal(N) * 2, TIES], (1.0, 0.3, 2.5)):
        assert close(f.prox(x, s) + s * conj_prox(x / s, 1 / s), x, scale_of(x), rtol=rtol)
        assert close(ops.Conjugate(f).prox(x, s), conj_prox(x, s), scale_of(x), rtol=rtol)


def test_moreau_nuclear() -> None:
    """``(lam ||.||_*)^*`` is the indicator of the spectral-norm ball of radius lam."""
    X = RNG.standard_normal((5, 3)) * 2.0
    U, sig, Vt = np.linalg.svd(X, full_matrices=False)
    ball = (U * np.minimum(sig, 0.9)) @ Vt
    for s in (1.0, 0.3, 2.5):
        assert close(
            ops.NuclearNorm(0.9).prox(X, s)
            + s * ops.Conjugate(ops.NuclearNorm(0.9)).prox(X / s, 1 / s),
            X,
            scale_of(X),
        )
        assert close(ops.Conjugate(ops.NuclearNorm(0.9)).prox(X, s), ball, scale_of(X))
    assert close(ops.NuclearNorm(0.9).prox(X, 1.0) + ball, X, scale_of(X))


def test_conjugate_rejects_nonconvex() -> None:
    with pytest.raises(ValueError, match="convex"):
        ops.Conjugate(ops.MCP(1.0, 3.0))
    with pytest.raises(NotImplementedError):
        ops.SCAD(1.0, 3.7).conjugate_value(np.zeros(3))


# --------------------------------------------------------------------------------------------------
# Calculus against cvxpy
# --------------------------------------------------------------------------------------------------

Q = np.linalg.qr(RNG.standard_normal((N, N)))[0]
SHIFT = np.linspace(-1.0, 1.0, N)
CALCULUS_CASES = [
    (ops.Scaled(ops.TV1D(0.6), 2.5), lambda u: (1.5 * cp.norm1(cp.diff(u)), [])),
    (ops.Translated(ops.L1(0.5), SHIFT), lambda u: (0.5 * cp.norm1(u - SHIFT), [])),
    (ops.Translated(ops.L2Ball(1.0), SHIFT), lambda u: (0, [cp.norm(u - SHIFT, 2) <= 1.0])),
    (ops.OrthogonalPrecomposition(ops.L1(0.5), Q), lambda u: (0.5 * cp.norm1(Q @ u), [])),
    (
        ops.OrthogonalPrecomposition(ops.Box(LOWER, UPPER), Q),
        lambda u: (
            0,
            [
                Q[np.isfinite(LOWER)] @ u >= LOWER[np.isfinite(LOWER)],
                Q[np.isfinite(UPPER)] @ u <= UPPER[np.isfinite(UPPER)],
            ],
        ),
    ),
    (ops.Conjugate(ops.LinfNorm(1.3)), lambda u: (0, [cp.norm1(u) <= 1.3])),
    (ops.Conjugate(ops.L1Ball(1.3)), lambda u: (1.3 * cp.norm_inf(u), [])),
]


@pytest.mark.parametrize(("op", "model"), CALCULUS_CASES, ids=[repr(o) for o, _ in CALCULUS_CASES])
def test_calculus_against_cvxpy(op: ops.ProxOperator, model: Model) -> None:
    case = Case(op, [], model, check_l1)
    for x, t in itertools.product([*RANDOM_VECS, TIES], STEPS):
        agrees_with_reference(op, x, t, op.prox(x, t), cvx_prox(case, x, t))


def test_calculus_values_and_convexity() -> None:
    x = RANDOM_VECS[0]
    assert ops.Scaled(ops.L1(0.5), 3.0).value(x) == pytest.approx(1.5 * np.abs(x).sum(), rel=1e-14)
    assert ops.Translated(ops.L2Norm(1.0), SHIFT).value(x) == pytest.approx(
        np.linalg.norm(x - SHIFT), rel=1e-14
    )
    assert ops.OrthogonalPrecomposition(ops.L1(1.0), Q).value(x) == pytest.approx(
        np.abs(Q @ x).sum(), rel=1e-14
    )
    assert ops.Scaled(ops.MCP(1.0, 3.0), 2.0).convex is False
    assert ops.Scaled(ops.L1(1.0), 2.0).convex is True
    with pytest.raises(ValueError, match="orthogonal"):
        ops.OrthogonalPrecomposition(ops.L1(1.0), Q + 1e-3)


# --------------------------------------------------------------------------------------------------
# Nonconvex penalties
# --------------------------------------------------------------------------------------------------


def mcp_penalty(u: np.ndarray, lam: float = 1.0, gamma: float = 3.0) -> np.ndarray:
    a = np.abs(u)
    return np.where(a <= gamma * lam, lam * a - a * a / (2 * gamma), gamma * lam**2 / 2)


def scad_penalty(u: np.ndarray, lam: float = 1.0, gamma: float = 3.7) -> np.ndarray:
    a = np.abs(u)
    middle = (2 * gamma * lam * a - a * a - lam**2) / (2 * (gamma - 1))
    return np.where(a <= lam, lam * a, np.where(a <= gamma * lam, middle, lam**2 * (gamma + 1) / 2))


def l0_penalty(u: np.ndarray, lam: float = 0.7) -> np.ndarray:
    return lam * (u != 0)


def grid_min(penalty: Callable[[np.ndarray], np.ndarray], xs: np.ndarray, t: float) -> np.ndarray:
    """Per coordinate, min of ``t p(u) + (u - x)^2 / 2`` by a coarse then a fine grid."""
    coarse = np.linspace(-9.0, 9.0, 18_001)  # spacing 1e-3, 0 included
    phi = t * penalty(coarse)[None, :] + 0.5 * (coarse[None, :] - xs[:, None]) ** 2
    centre = coarse[np.argmin(phi, axis=1)]
    fine = centre[:, None] + np.linspace(-2e-3, 2e-3, 4_001)[None, :]  # spacing 1e-6
    fine_phi = t * penalty(fine) + 0.5 * (fine - xs[:, None]) ** 2
    return np.minimum(fine_phi.min(axis=1), phi.min(axis=1))


@pytest.mark.parametrize(
    ("op", "penalty", "steps"),
    [
        (ops.MCP(1.0, 3.0), mcp_penalty, (0.4, 1.0, 2.9, 3.0, 5.0)),
        (ops.SCAD(1.0, 3.7), scad_penalty, (0.4, 1.0, 2.69, 2.7, 4.0)),
        (ops.L0(0.7), l0_penalty, (0.4, 1.0, 3.0)),
    ],
    ids=["mcp", "scad", "l0"],
)
def test_nonconvex_prox_is_global_minimiser(
    op: ops.ProxOperator, penalty: Callable[[np.ndarray], np.ndarray], steps: tuple[float, ...]
) -> None:
    xs = np.r_[np.linspace(-7.0, 7.0, 57), 1.0, 3.0, 3.7, 1.4, -2.0, 0.0, 2 * 0.7**0.5]
    for t in steps:
        p = op.prox(xs, t)
        phi = t * penalty(p) + 0.5 * (p - xs) ** 2
        ref = grid_min(penalty, xs, t)
        assert np.all(phi <= ref + 1e-10), (t, xs[phi > ref + 1e-10], (phi - ref).max())


def test_group_k_sparse_projection_by_enumeration() -> None:
    rng = np.random.default_rng(5)
    op = ops.GroupKSparse(2, LABELS)
    for x in [*(rng.standard_normal(N) for _ in range(5)), TIES]:
        p = op.prox(x)
        best = min(
            sum(float(x[GROUP_IDX[g]] @ x[GROUP_IDX[g]]) for g in range(4) if g not in keep)
            for keep in itertools.combinations(range(4), 2)
        )
        assert np.sum((p - x) ** 2) == pytest.approx(best, rel=1e-12, abs=1e-15)
        assert op.value(p) == 0.0 and np.all((p == 0) | (p == x))
    assert op.value(np.ones(N)) == math.inf


def penalty_objective(v: np.ndarray, x: np.ndarray, beta: float, k: int) -> float:
    envelope = ops.GroupSparseEnvelope(k, LABELS, GROUP_W, lam=beta).value(v)
    quad = sum(0.5 * (1 - beta * w) * v[i] @ v[i] for w, i in zip(GROUP_W, GROUP_IDX, strict=True))
    return float(envelope + quad - x @ v)


def test_group_sparse_penalty_against_cvxpy() -> None:
    """The prox of lam (F - q) solves beta F(u) + 0.5 sum_g s_g ||u_g||^2 - <u, x> (convex)."""
    lam, k = 0.3, 2
    op = ops.GroupSparsePenalty(k, LABELS, GROUP_W, lam=lam)
    for x, t in itertools.product([*RANDOM_VECS, TIES], (1.0, 0.5)):
        beta = lam * t
        u = cp.Variable(N)
        env, constraints = model_envelope(beta, k)(u)
        quad = sum(
            0.5 * (1 - beta * w) * cp.sum_squares(u[i])
            for w, i in zip(GROUP_W, GROUP_IDX, strict=True)
        )
        problem = cp.Problem(cp.Minimize(env + quad - x @ u), constraints)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver="CLARABEL", **CLARABEL)
        # p minimises the convex objective of the reformulation: compare in that objective
        p = op.prox(x, t)
        dist = float(np.abs(p - u.value).max())
        if dist > 1e-6 * scale_of(x):
            gap = penalty_objective(u.value, x, beta, k) - penalty_objective(p, x, beta, k)
            strong = 1 - beta * GROUP_W.max()  # modulus of strong convexity of the objective
            assert gap >= -1e-12 and np.sum((p - u.value) ** 2) <= 2 * gap / strong
            assert dist <= 1e-4 * scale_of(x)
    # an exact penalty: zero on vectors with <= k active groups, positive otherwise
    sparse = np.r_[1.0, 2.0, 0, 0, 0, -3.0, 0, 0]
    assert op.value(sparse) == 0.0 and op.value(np.ones(N)) > 1e-3
    with pytest.raises(ValueError, match="step"):
        op.prox(np.ones(N), 1.0 / (lam * GROUP_W.max()))


def test_envelope_value_closed_form() -> None:
    rng = np.random.default_rng(9)
    for k in (1, 2, 3, 4):
        op = ops.GroupSparseEnvelope(k, LABELS, GROUP_W)
        for x in [*(rng.standard_normal(N) for _ in range(4)), TIES, np.zeros(N)]:
            ref = 0.5 * ksupport_sq(np.sqrt(GROUP_W) * group_norms(x), k)
            assert op.value(x) == pytest.approx(ref, rel=1e-12, abs=1e-300)
        quad = 0.5 * GROUP_W @ group_norms(TIES) ** 2
        assert op.value(TIES) >= quad * (1 - 1e-12)  # the envelope of q + indicator lies above q


# --------------------------------------------------------------------------------------------------
# Breakpoint searches, simplex, TV
# --------------------------------------------------------------------------------------------------


def test_sort_and_linear_searches_agree() -> None:
    rng = np.random.default_rng(1)
    for trial in range(300):
        n = int(rng.integers(1, 60))
        y = rng.standard_normal(n) * 10 ** rng.uniform(-3, 3)
        if trial % 3 == 0:
            y = np.round(y)  # many ties
        r = float(10 ** rng.uniform(-2, 2))
        a, b = project_simplex(y, r, "sort"), project_simplex(y, r, "linear")
        assert np.abs(a - b).max() <= 1e-12 * max(r, np.abs(y).max())
        assert a.min() >= 0.0 and abs(a.sum() - r) <= 1e-12 * max(r, np.abs(y).sum())
    for _ in range(100):  # capped items (the envelope's equation)
        n = int(rng.integers(2, 40))
        c, d = rng.uniform(0.1, 3, n), rng.uniform(0, 2, n)
        target = float(rng.uniform(0.1, n - 0.1))
        roots = [clip_sum_root(c, d, np.ones(n), target, m) for m in ("sort", "linear")]
        for root in roots:
            assert np.clip(c * root - d, 0, 1).sum() == pytest.approx(target, rel=1e-12)
    x = rng.standard_normal(40)
    env = [
        ops.GroupSparseEnvelope(3, np.arange(40) // 4, method=m).prox(x, 0.7)
        for m in ("sort", "linear")
    ]
    assert np.abs(env[0] - env[1]).max() <= 1e-12


def test_simplex_reference_and_sparsemax() -> None:
    """Sort-based projection written out (Held et al.) and sparsemax's threshold property."""
    rng = np.random.default_rng(2)
    for _ in range(50):
        y = rng.standard_normal(20)
        u = np.sort(y)[::-1]
        css = np.cumsum(u) - 1.0
        rho = np.nonzero(u - css / np.arange(1, 21) > 0)[0][-1]
        ref = np.maximum(y - css[rho] / (rho + 1), 0.0)
        for method in ("sort", "linear"):
            assert np.abs(ops.Simplex(1.0, method).prox(y) - ref).max() <= 1e-14


def test_tv1d_kkt_on_many_signals() -> None:
    rng = np.random.default_rng(4)
    for trial in range(400):
        n = int(rng.integers(1, 40))
        lam = float(rng.choice([1e-3, 0.1, 1.0, 10.0, 1e3]))
        kind = trial % 4
        y = [
            rng.standard_normal(n),
            np.round(rng.standard_normal(n)),
            np.repeat(rng.standard_normal(4), n)[:n],
            np.cumsum(rng.standard_normal(n)),
        ][kind]
        p = tv1d_prox(y, lam)
        tv_kkt(y, p, lam)
    y = rng.standard_normal(30)
    assert np.allclose(tv1d_prox(y, 1e6), y.mean(), rtol=0, atol=1e-12)  # huge lam: the mean
    assert np.array_equal(tv1d_prox(y, 0.0), y)


# --------------------------------------------------------------------------------------------------
# Catalogue, values, hygiene
# --------------------------------------------------------------------------------------------------

INDICATORS = {
    "box",
    "nonneg",
    "simplex",
    "l1_ball",
    "l2_ball",
    "linf_ball",
    "hyperplane",
    "halfspace",
    "psd",
}
EXPECTED = {
    "l1",
    "weighted_l1",
    "elastic_net",
    "l2",
    "squared_l2",
    "linf",
    "group_l1",
    "sum_of_norms",
    "group_sparse_envelope",
    "group_sparse_penalty",
    "group_k_sparse",
    "nuclear",
    "huber",
    "hinge",
    "mcp",
    "scad",
    "l0",
    "box",
    "nonneg",
    "simplex",
    "l1_ball",
    "l2_ball",
    "linf_ball",
    "hyperplane",
    "halfspace",
    "psd",
    "tv1d",
}
SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "weighted_l1": {"weights": [1.0, 2.0, 0.5]},
    "group_l1": {"lam": 1.0, "groups": [0, 0, 1]},
    "sum_of_norms": {"lam": 1.0, "blocks": [[0, 1], [2]]},
    "group_sparse_envelope": {"k": 1, "groups": [0, 0, 1]},
    "group_sparse_penalty": {"k": 1, "groups": [0, 0, 1], "lam": 0.5},
    "group_k_sparse": {"k": 1, "groups": [0, 0, 1]},
    "hyperplane": {"a": [1.0, 1.0, 1.0], "beta": 1.0},
    "halfspace": {"a": [1.0, 1.0, 1.0], "beta": 1.0},
    "box": {"lower": -1.0, "upper": [1.0, 2.0, 3.0]},
}


def test_catalogue() -> None:
    assert set(ops.CATALOGUE) == EXPECTED
    for name, entry in ops.CATALOGUE.items():
        op = entry.build(**SAMPLE_PARAMS.get(name, {}))
        assert op.name == name == entry.name
        assert op.convex is entry.convex
        assert set(entry.required) <= set(entry.params)
        json.dumps(entry.as_dict())
        x = np.eye(3) if name in ("nuclear", "psd") else np.array([0.5, -2.0, 1.0])
        p = op.prox(x, 0.5)
        assert p.shape == x.shape and np.all(np.isfinite(p))
    assert {n for n, e in ops.CATALOGUE.items() if not e.convex} == {
        "mcp",
        "scad",
        "l0",
        "group_sparse_penalty",
        "group_k_sparse",
    }


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_never_mutates_and_keeps_dtype(case: Case) -> None:
    x = case.inputs[0].copy()
    before = x.copy()
    case.op.prox(x, 0.5)
    case.op.value(x)
    assert np.array_equal(x, before)
    p32 = case.op.prox(x.astype(np.float32), 0.5)
    assert p32.dtype == np.float32
    assert np.allclose(p32, case.op.prox(x, 0.5), rtol=1e-4, atol=1e-4 * scale_of(x))
    assert case.op.prox(np.rint(x).astype(np.int64), 0.5).dtype == np.float64


@pytest.mark.parametrize(
    ("op", "expr"),
    [
        (ops.L1(0.5), lambda x: 0.5 * np.abs(x).sum()),
        (ops.WeightedL1(WEIGHTS), lambda x: WEIGHTS @ np.abs(x)),
        (ops.LinfNorm(1.3), lambda x: 1.3 * np.abs(x).max()),
        (ops.GroupL21(0.6, LABELS), lambda x: 0.6 * np.sqrt([2, 3, 1, 2]) @ group_norms(x)),
        (ops.Huber(0.8), lambda x: float(cp.sum(cp.huber(x, 0.8)).value) / 2),
        (ops.Hinge(), lambda x: np.maximum(0, 1 - x).sum()),
        (ops.MCP(1.0, 3.0), lambda x: mcp_penalty(x).sum()),
        (ops.SCAD(1.0, 3.7), lambda x: scad_penalty(x).sum()),
        (ops.L0(0.7), lambda x: 0.7 * np.count_nonzero(x)),
        (ops.TV1D(0.6), lambda x: 0.6 * np.abs(np.diff(x)).sum()),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_penalty_values(op: ops.ProxOperator, expr: Callable[[np.ndarray], float]) -> None:
    for x in [*RANDOM_VECS, TIES, 4 * TIES]:
        assert op.value(x) == pytest.approx(expr(x), rel=1e-12, abs=1e-14)


def test_indicator_values() -> None:
    x = RANDOM_VECS[0] * 5
    for op in [c.op for c in CASES if c.name in INDICATORS]:
        if op.name == "psd":
            assert op.value(op.prox(SYM)) == 0.0 and op.value(SYM) == math.inf
            continue
        assert op.value(x) == math.inf, op.name
        assert op.value(op.prox(x)) == 0.0, op.name
    assert ops.Simplex(1.0).value(SIMPLEX_INSIDE) == 0.0
    assert ops.Simplex(1.0).value(SIMPLEX_INSIDE * 1.001) == math.inf
    assert ops.L2Ball(1.0).value(np.r_[1.0 + 1e-13, np.zeros(3)]) == 0.0  # boundary tolerance
    assert ops.L2Ball(1.0).value(np.r_[1.0 + 1e-6, np.zeros(3)]) == math.inf


def test_rejects_bad_parameters() -> None:
    for build in [
        lambda: ops.L1(-1.0),
        lambda: ops.MCP(1.0, 1.0),
        lambda: ops.SCAD(1.0, 2.0),
        lambda: ops.SumOfNorms(1.0, [[0, 1], [1, 2]]),
        lambda: ops.Box(1.0, 0.0),
        lambda: ops.Hyperplane(np.zeros(3), 1.0),
        lambda: ops.GroupSparseEnvelope(0, [0, 1]),
        lambda: ops.Simplex(1.0, method="fast"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(ValueError):
            build()
    with pytest.raises(ValueError, match="step"):
        ops.L1(1.0).prox(np.ones(3), 0.0)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cupy_matches_numpy(case: Case) -> None:
    import cupy

    for x, t in itertools.product(case.inputs, STEPS):
        ref = case.op.prox(x, t)
        out = case.op.prox(cupy.asarray(x), t)
        assert type(out).__module__.startswith("cupy")
        np.testing.assert_allclose(out.get(), ref, rtol=1e-10, atol=1e-10 * scale_of(x))
        assert case.op.value(cupy.asarray(x)) == pytest.approx(case.op.value(x), rel=1e-10)
        conj_ref = case.op.conjugate_value((x - ref) / t)
        conj_gpu = case.op.conjugate_value(cupy.asarray((x - ref) / t))
        assert conj_gpu == pytest.approx(conj_ref, rel=1e-9, abs=1e-9)
