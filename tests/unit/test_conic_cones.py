"""Cone projections of the conic solver: optimality conditions, membership, cvxpy references.

A point ``p`` is the projection of ``z`` onto a closed convex cone ``K`` exactly when ``p`` is in
``K``, ``p - z`` is in the dual cone and ``<p, p - z> = 0`` (Moreau). ``in_cone_residual`` checks
membership from the cones' definitions (not through the projections), so these three checks
certify a projection independently of how it was computed. The cvxpy + Clarabel references solve
``min ||x - z||^2 s.t. x in K`` as a conic program.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import workers.solvers.conic.spectral as spectral
from workers.solvers.backend import gpu_available
from workers.solvers.conic.cones import (
    ConeSpec,
    ConeWorkspace,
    in_cone_residual,
    project_cone,
    smat,
    svec,
)
from workers.solvers.conic.expcone import project_exp_cone

KKT_TOL = 1e-8  # relative to |z| (orthogonality relative to |z|^2)
REF_TOL = 1e-6  # agreement with cvxpy + Clarabel, relative to max(1, |z|)

MIXED = ConeSpec(
    z=2,
    l=3,
    bu=(1.0, np.inf, 0.5, 2.0),
    bl=(-1.0, 0.0, -np.inf, 1.0),
    q=(1, 3, 4, 3),
    s=(1, 2, 3),
    ep=3,
    ed=2,
    p=(0.3, -0.6, 0.5),
    d=(1, 3),
    nuc_m=(4, 3),
    nuc_n=(2, 3),
    ell1=(1, 5),
    sl_n=(4,),
    sl_k=(2,),
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def assert_projection(z: np.ndarray, cones: ConeSpec, tol: float = KKT_TOL) -> np.ndarray:
    """``p = P_K(z)`` and ``d = P_K*(-z)`` satisfy Moreau's conditions; returns ``p``."""
    z_copy = z.copy()
    p = project_cone(z, cones)
    d = project_cone(-z, cones, dual=True)
    np.testing.assert_array_equal(z, z_copy)  # the input is not modified
    scale = max(float(np.linalg.norm(z)), 1e-300)
    np.testing.assert_allclose(p - d, z, rtol=0, atol=tol * scale)
    assert in_cone_residual(p, cones) <= tol * scale
    assert in_cone_residual(d, cones, dual=True) <= tol * scale
    assert abs(float(p @ d)) <= tol * scale * scale
    return p


def random_symmetric(rng: np.random.Generator, n: int, *, ties: bool = False) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.standard_normal(n)
    if ties and n >= 3:
        lam[1 : n // 2 + 1] = lam[0]  # a repeated eigenvalue
    return (Q * lam) @ Q.T


def random_point(rng: np.random.Generator, cones: ConeSpec, *, ties: bool = False) -> np.ndarray:
    """Gaussian entries, matrices of the spectral cones drawn with (optionally) tied spectra."""
    z = rng.standard_normal(cones.size())
    for b in cones.blocks():
        if b.kind in ("s", "d", "sl") and b.dims[0] >= 2:
            n = b.dims[0]
            lead = {"s": 0, "d": 2, "sl": 1}[b.kind]
            z[b.start + lead : b.stop] = svec(random_symmetric(rng, n, ties=ties))
        if b.kind == "nuc" and ties:
            m, n = b.dims
            U, _ = np.linalg.qr(rng.standard_normal((m, n)))
            V, _ = np.linalg.qr(rng.standard_normal((n, n)))
            sig = np.full(n, abs(rng.standard_normal()))
            z[b.start + 1 : b.stop] = ((U * sig) @ V.T).reshape(-1, order="F")
        if b.kind == "ell1" and ties:
            z[b.start + 1 : b.stop] = np.sign(z[b.start + 1 : b.stop]) * 0.7
    return z


def set_heads(z: np.ndarray, cones: ConeSpec, value: float) -> np.ndarray:
    """Set the ``t`` entry of every cone that has one (``q``, box, spectral cones) to ``value``."""
    z = z.copy()
    for b in cones.blocks():
        if b.kind in ("q", "box", "d", "nuc", "ell1", "sl"):
            z[b.start] = value
    return z


# --------------------------------------------------------------------------------------------
# svec / smat / ConeSpec
# --------------------------------------------------------------------------------------------


def test_svec_matches_scs_convention() -> None:
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    r2 = math.sqrt(2.0)
    np.testing.assert_allclose(svec(X), [1.0, 2 * r2, 3 * r2, 4.0, 5 * r2, 6.0])


def test_svec_smat_round_trip_and_inner_product() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 9):
        A = random_symmetric(rng, n)
        B = random_symmetric(rng, n)
        np.testing.assert_allclose(smat(svec(A)), A, atol=1e-14)
        assert svec(A) @ svec(B) == pytest.approx(np.trace(A @ B), rel=1e-12, abs=1e-12)
    stack = np.stack([random_symmetric(rng, 4) for _ in range(3)])
    np.testing.assert_allclose(smat(svec(stack)), stack, atol=1e-14)


def test_cone_spec_blocks_follow_scs_order() -> None:
    kinds = [b.kind for b in MIXED.blocks()]
    expected = ["z", "l", "box"] + ["q"] * 4 + ["s"] * 3 + ["ep"] * 3 + ["ed"] * 2 + ["p"] * 3
    expected += ["d"] * 2 + ["nuc"] * 2 + ["ell1"] * 2 + ["sl"]
    assert kinds == expected
    blocks = MIXED.blocks()
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))
    sizes = {b.kind: b.stop - b.start for b in blocks}
    assert sizes["box"] == 5 and sizes["d"] == 8 and sizes["nuc"] == 10 and sizes["sl"] == 11
    expected_m = 2 + 3 + 5 + 11 + (1 + 3 + 6) + 9 + 6 + 9 + (3 + 8) + (9 + 10) + (2 + 6) + 11
    assert MIXED.size() == expected_m
    assert ConeSpec().size() == 0
    assert ConeSpec(q=[3, 2]).q == (3, 2)  # lists accepted, stored as tuples (hashable)
    assert hash(ConeSpec(q=[3])) == hash(ConeSpec(q=(3,)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"l": -1},
        {"bu": (1.0,), "bl": ()},
        {"bu": (0.0,), "bl": (1.0,)},
        {"p": (1.5,)},
        {"d": (0,)},
        {"nuc_m": (2,), "nuc_n": (3,)},
        {"sl_n": (3,), "sl_k": (4,)},
        {"sl_n": (3,), "sl_k": ()},
    ],
)
def test_cone_spec_rejects_bad_dimensions(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ConeSpec(**kwargs)


def test_project_cone_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        project_cone(np.zeros(3), ConeSpec(l=4))


# --------------------------------------------------------------------------------------------
# Moreau / KKT on random and boundary inputs
# --------------------------------------------------------------------------------------------

SPECS = {
    "zero_nonneg": ConeSpec(z=3, l=4),
    "box": ConeSpec(bu=(1.0, 2.0, np.inf, 0.0, -1.0, 3.0), bl=(-1.0, 0.5, 0.0, 0.0, -2.0, -np.inf)),
    "soc": ConeSpec(q=(1, 2, 3, 3, 7)),
    "psd": ConeSpec(s=(1, 2, 3, 3, 6, 40, 33)),  # batched below 33, sliced above
    "exp": ConeSpec(ep=6, ed=5),
    "power": ConeSpec(p=(0.0, 0.2, 0.5, 0.9, 1.0, -0.3, -0.5, -1.0)),
    "logdet": ConeSpec(d=(1, 2, 5, 12)),
    "nuclear": ConeSpec(nuc_m=(3, 5, 8), nuc_n=(3, 2, 4)),
    "ell1": ConeSpec(ell1=(1, 4, 10)),
    "sum_largest": ConeSpec(sl_n=(4, 6, 8), sl_k=(1, 3, 7)),
    "mixed": MIXED,
}


@pytest.mark.parametrize("name", list(SPECS))
def test_projection_satisfies_moreau_on_random_points(name: str) -> None:
    cones = SPECS[name]
    rng = np.random.default_rng(list(SPECS).index(name))
    for trial in range(6):
        z = random_point(rng, cones, ties=trial % 2 == 1) * 10.0 ** rng.uniform(-3, 3)
        assert_projection(z, cones)


@pytest.mark.parametrize("name", list(SPECS))
def test_projection_boundary_cases(name: str) -> None:
    cones = SPECS[name]
    rng = np.random.default_rng(7)
    m = cones.size()
    # the zero vector
    np.testing.assert_array_equal(project_cone(np.zeros(m), cones), np.zeros(m))
    z = random_point(rng, cones, ties=True)
    # a point already in K is left where it is (and the projection is idempotent)
    p = assert_projection(z, cones)
    np.testing.assert_allclose(project_cone(p, cones), p, rtol=0, atol=1e-12 * np.linalg.norm(z))
    # a point whose negative is in K* projects to 0 (z = -P_K*(w))
    w = -project_cone(z, cones, dual=True)
    np.testing.assert_allclose(project_cone(w, cones), 0.0, atol=1e-12 * np.linalg.norm(z))
    # t very negative and very positive
    for head in (-1e6, 1e6, -1e-9, 0.0):
        assert_projection(set_heads(z, cones, head), cones)
    # huge and tiny scales
    for factor in (1e-150, 1e150):
        assert_projection(z * factor, cones)


def test_points_inside_stay_and_outside_points_have_positive_residual() -> None:
    cones = MIXED
    rng = np.random.default_rng(3)
    z = random_point(rng, cones)
    p = project_cone(z, cones)
    assert in_cone_residual(p, cones) <= 1e-12 * np.linalg.norm(z)
    # moving each cone's projection outward along its normal (the dual part) leaves the cone
    d = project_cone(-z, cones, dual=True)  # = p - z
    for b in cones.blocks():
        if b.kind == "z" or np.linalg.norm(d[b.rows]) < 1e-6:
            continue
        bad = p.copy()
        bad[b.rows] -= d[b.rows] / np.linalg.norm(d[b.rows])
        assert in_cone_residual(bad, cones) > 1e-3, b.kind
    assert in_cone_residual(np.ones(3), ConeSpec(z=3)) == 1.0
    assert in_cone_residual(np.ones(3), ConeSpec(z=3), dual=True) == 0.0
    assert in_cone_residual(np.array([-2.0, 1.0]), ConeSpec(l=2)) == 2.0
    assert in_cone_residual(np.array([1.0, 2.0, -3.0]), ConeSpec(ell1=(2,))) == pytest.approx(4.0)
    assert in_cone_residual(np.array([1.0, 2.0, -3.0]), ConeSpec(ell1=(2,)), dual=True) == 2.0


# --------------------------------------------------------------------------------------------
# agreement with cvxpy + Clarabel
# --------------------------------------------------------------------------------------------


def _svec_expr(cp: Any, Y: Any, n: int) -> Any:
    r2 = math.sqrt(2.0)
    entries = [Y[i, j] * (1.0 if i == j else r2) for j in range(n) for i in range(j, n)]
    return cp.hstack(entries)


def _cvx_constraints(cp: Any, x: Any, cones: ConeSpec) -> list[Any]:
    """Constraints ``x in K`` written with cvxpy's own cones (no use of our projections)."""
    cons: list[Any] = []
    bu, bl = np.asarray(cones.bu), np.asarray(cones.bl)
    for b in cones.blocks():
        s, e = b.start, b.stop
        if b.kind == "z":
            cons.append(x[s:e] == 0)
        elif b.kind == "l":
            cons.append(x[s:e] >= 0)
        elif b.kind == "box":
            t = x[s]
            cons.append(t >= 0)
            for i in range(len(bu)):
                if np.isfinite(bu[i]):
                    cons.append(x[s + 1 + i] <= t * bu[i])
                if np.isfinite(bl[i]):
                    cons.append(x[s + 1 + i] >= t * bl[i])
        elif b.kind == "q":
            cons.append(cp.SOC(x[s], x[s + 1 : e]))
        elif b.kind in ("s", "d", "sl"):
            n = b.dims[0]
            lead = {"s": 0, "d": 2, "sl": 1}[b.kind]
            Y = cp.Variable((n, n), symmetric=True)
            cons.append(_svec_expr(cp, Y, n) == x[s + lead : e])
            if b.kind == "s":
                cons.append(Y >> 0)
            elif b.kind == "sl":
                cons.append(cp.lambda_sum_largest(Y, b.dims[1]) <= x[s])
            else:
                # t >= -v log det(Y / v): [[Y, L], [L^T, diag(L)]] >= 0 with L lower triangular
                # and u_i <= v log(L_ii / v), t >= -sum u
                L = cp.Variable((n, n))
                u = cp.Variable(n)
                cons.append(cp.bmat([[Y, L], [L.T, cp.diag(cp.diag(L))]]) >> 0)
                cons += [L[i, j] == 0 for i in range(n) for j in range(i + 1, n)]
                cons += [cp.constraints.ExpCone(u[i], x[s + 1], L[i, i]) for i in range(n)]
                cons.append(x[s] >= -cp.sum(u))
        elif b.kind == "ep":
            cons.append(cp.constraints.ExpCone(x[s], x[s + 1], x[s + 2]))
        elif b.kind == "ed":
            # (u, v, w) in K_exp*  <=>  (u - v, -u, w) in K_exp
            cons.append(cp.constraints.ExpCone(x[s] - x[s + 1], -x[s], x[s + 2]))
        elif b.kind == "p":
            a = b.power
            if a >= 0:
                cons.append(cp.constraints.PowCone3D(x[s], x[s + 1], x[s + 2], a))
            else:
                al = -a
                cons.append(cp.constraints.PowCone3D(x[s] / al, x[s + 1] / (1 - al), x[s + 2], al))
        elif b.kind == "nuc":
            m, n = b.dims
            X = cp.reshape(x[s + 1 : e], (m, n), order="F")
            cons.append(cp.normNuc(X) <= x[s])
        elif b.kind == "ell1":
            cons.append(cp.norm1(x[s + 1 : e]) <= x[s])
    return cons


def cvx_projection(z: np.ndarray, cones: ConeSpec) -> np.ndarray:
    cp = pytest.importorskip("cvxpy")
    x = cp.Variable(z.size)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - z)), _cvx_constraints(cp, x, cones))
    prob.solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11, max_iter=400
    )
    assert prob.status == cp.OPTIMAL, prob.status
    return np.asarray(x.value)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_projection_matches_cvxpy(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    z = random_point(rng, MIXED, ties=seed == 2)
    ours = project_cone(z, MIXED)
    ref = cvx_projection(z, MIXED)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=REF_TOL * max(1.0, np.linalg.norm(z)))
    # and the dual projection against the reference through Moreau
    np.testing.assert_allclose(project_cone(-z, MIXED, dual=True), ref - z, atol=1e-5)


@pytest.mark.parametrize(
    "cones",
    [
        ConeSpec(d=(4,)),
        ConeSpec(sl_n=(6,), sl_k=(3,)),
        ConeSpec(nuc_m=(5,), nuc_n=(3,)),
        ConeSpec(bu=(1.0, 2.0, np.inf, 0.0, -1.0), bl=(-1.0, 0.5, 0.0, 0.0, -2.0)),
    ],
    ids=["logdet", "sum_largest", "nuclear", "box"],
)
def test_single_cones_match_cvxpy_at_extreme_heads(cones: ConeSpec) -> None:
    rng = np.random.default_rng(11)
    z = random_point(rng, cones, ties=True)
    for head in (-3.0, 0.3, 3.0):
        zz = set_heads(z, cones, head)
        if cones.d:
            zz[1] = -0.5 if head > 0 else 0.7  # v of the log-det cone on either side of 0
        ours = project_cone(zz, cones)
        ref = cvx_projection(zz, cones)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=REF_TOL * max(1.0, np.linalg.norm(zz)))


# --------------------------------------------------------------------------------------------
# exponential and power cones in bulk
# --------------------------------------------------------------------------------------------


def _ray_residual(
    X: np.ndarray,
    member: Callable[[np.ndarray], np.ndarray],
    direction: tuple[float, float, float] = (-1.0, 1.0, 1.0),
) -> np.ndarray:
    """Vectorised smallest step along an interior direction into the set (rows of ``X``)."""
    e = np.asarray(direction) / np.linalg.norm(direction)
    sc = np.maximum(np.abs(X).max(axis=1), 1e-300)
    inside = member(X)
    hi = 1e-17 * sc
    for _ in range(400):
        ok = member(X + hi[:, None] * e)
        if ok.all():
            break
        hi = np.where(ok, hi, 2.0 * hi)
    lo = np.zeros_like(hi)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        ok = member(X + mid[:, None] * e)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.where(inside, 0.0, hi)


def _exp_member(X: np.ndarray) -> np.ndarray:
    x, y, z = X.T
    with np.errstate(all="ignore"):
        return ((y > 0) & (z > 0) & (x <= y * np.log(z / y))) | ((y == 0) & (x <= 0) & (z >= 0))


def _exp_dual_member(X: np.ndarray) -> np.ndarray:
    u, v, w = X.T
    with np.errstate(all="ignore"):
        curved = (u < 0) & (w > 0) & (np.log(-u) + v / u <= 1.0 + np.log(w))
        return curved | ((u == 0) & (v >= 0) & (w >= 0))


def test_exponential_cone_bulk_kkt_with_wide_scales() -> None:
    rng = np.random.default_rng(5)
    k = 20000
    V = rng.standard_normal((k, 3))
    scaled = rng.random(k) < 0.5
    V[scaled] *= 10.0 ** rng.uniform(-6, 6, size=(int(scaled.sum()), 3))
    V[:50, 1] = 0.0  # on the planes y = 0, x = 0, z = 0
    V[50:100, 0] = 0.0
    V[100:150, 2] = 0.0
    P = project_exp_cone(V)
    Q = P - V
    nv = np.abs(V).max(axis=1)
    assert np.all(_ray_residual(P, _exp_member) <= 1e-12 * nv)
    assert np.all(_ray_residual(Q, _exp_dual_member) <= 1e-12 * nv)
    assert np.all(np.abs(np.sum(P * Q, axis=1)) <= 1e-12 * nv**2)


def test_power_cone_bulk_kkt() -> None:
    rng = np.random.default_rng(6)
    k = 3000
    a = rng.choice([0.0, 0.1, 0.5, 0.77, 1.0, -0.25, -1.0], size=k)
    cones = ConeSpec(p=tuple(a))
    z = rng.standard_normal(3 * k) * np.repeat(10.0 ** rng.uniform(-4, 4, size=k), 3)
    p = project_cone(z, cones)
    d = p - z
    P, D, Z = p.reshape(k, 3), d.reshape(k, 3), z.reshape(k, 3)
    nz = np.abs(Z).max(axis=1)
    al = np.abs(a)

    def primal(X: np.ndarray) -> np.ndarray:  # x^al y^(1-al) >= |z|
        x, y, w = X.T
        with np.errstate(all="ignore"):
            return (x >= 0) & (y >= 0) & (x**al * y ** (1 - al) >= np.abs(w))

    def dual(X: np.ndarray) -> np.ndarray:  # (x/al)^al (y/(1-al))^(1-al) >= |z|
        x, y, w = X.T
        with np.errstate(all="ignore"):
            fu = np.where(al > 0, (x / al) ** al, 1.0)
            fv = np.where(al < 1, (y / (1 - al)) ** (1 - al), 1.0)
            return (x >= 0) & (y >= 0) & (fu * fv >= np.abs(w))

    # p's cone is K_al (a >= 0) or K_al^* (a < 0), and d = p - z lies in the dual of that one
    def p_cone(X: np.ndarray) -> np.ndarray:
        return np.where(a >= 0, primal(X), dual(X))

    def d_cone(X: np.ndarray) -> np.ndarray:
        return np.where(a >= 0, dual(X), primal(X))

    assert np.all(_ray_residual(P, p_cone, (1.0, 1.0, 0.0)) <= 1e-12 * nz)
    assert np.all(_ray_residual(D, d_cone, (1.0, 1.0, 0.0)) <= 1e-12 * nz)
    assert np.all(np.abs(np.sum(P * D, axis=1)) <= 1e-12 * nz**2)


# --------------------------------------------------------------------------------------------
# log-det specifics
# --------------------------------------------------------------------------------------------


def test_logdet_of_order_one_is_the_mirrored_exponential_cone() -> None:
    # t >= -v log(x / v)  <=>  (-t, v, x) in K_exp: the projections must agree under t -> -t
    rng = np.random.default_rng(8)
    Z = rng.standard_normal((300, 3)) * 10.0 ** rng.uniform(-3, 3, size=(300, 1))
    mirror = np.array([-1.0, 1.0, 1.0])
    via_exp = project_exp_cone(Z * mirror) * mirror
    cones = ConeSpec(d=(1,) * 300)
    ours = project_cone(Z.reshape(-1), cones).reshape(300, 3)
    scale = np.abs(Z).max(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, via_exp, rtol=0, atol=1e-11 * scale.max())
    assert np.all(np.abs(ours - via_exp) <= 1e-10 * scale)


def test_log_cone_fallback_agrees_with_newton(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    cases = []
    for _ in range(60):
        n = int(rng.integers(1, 30))
        x0 = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, size=n)
        t0, v0 = rng.standard_normal(2)
        cases.append((t0, v0, x0))
    newton = [spectral.project_log_cone(t0, v0, x0) for t0, v0, x0 in cases]
    monkeypatch.setattr(spectral, "_LOG_NEWTON_MAX_ITER", 0)
    for (t0, v0, x0), (t, v, x) in zip(cases, newton, strict=True):
        state = spectral.LogConeState()
        tf, vf, xf = spectral.project_log_cone(t0, v0, x0, state)
        scale = max(abs(t0), abs(v0), float(np.abs(x0).max()))
        assert abs(tf - t) <= 1e-9 * scale and abs(vf - v) <= 1e-9 * scale
        np.testing.assert_allclose(xf, x, rtol=0, atol=1e-9 * scale)
        if not (t == t0 and v == v0):  # the closed-form cases do not reach the solvers
            assert state.fallbacks <= 1


def test_logdet_warm_start_gives_same_projection_in_fewer_iterations() -> None:
    rng = np.random.default_rng(10)
    cones = ConeSpec(d=(20,))
    z = random_point(rng, cones)
    z[0], z[1] = -3.0, 0.4
    work = ConeWorkspace()
    cold_iters = 0
    for step in range(8):
        zz = z + 1e-3 * step * rng.standard_normal(z.size)
        warm = project_cone(zz, cones, work=work)
        state = spectral.LogConeState()
        tv = spectral.project_log_cone(
            float(zz[0]), float(zz[1]), np.linalg.eigvalsh(smat(zz[2:])), state
        )
        cold_iters += state.newton_iterations
        cold = project_cone(zz, cones)
        np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-10 * np.linalg.norm(zz))
        assert warm[0] == pytest.approx(tv[0], abs=1e-10 * np.linalg.norm(zz))
    assert work.logdet[0].newton_iterations < cold_iters


def test_sum_largest_vector_projection_with_ties_matches_cvxpy() -> None:
    cp = pytest.importorskip("cvxpy")
    lam = np.array([3.0, 2.0, 2.0, 2.0, 1.0, -1.0, -1.0])
    for k in (1, 2, 3, 5, 7):
        for t0 in (-5.0, 0.0, 4.0, 8.0):
            t, x, b = spectral.project_sum_largest(t0, lam, k)
            tv, xv = cp.Variable(), cp.Variable(lam.size)
            prob = cp.Problem(
                cp.Minimize(cp.square(tv - t0) + cp.sum_squares(xv - lam)),
                [cp.sum_largest(xv, k) <= tv],
            )
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12)
            assert t == pytest.approx(float(tv.value), abs=1e-6)
            np.testing.assert_allclose(x, xv.value, atol=1e-6)
            np.testing.assert_array_equal(x[b:], lam[b:])


def test_sum_largest_sweep_on_a_prefix_is_exact_or_declines() -> None:
    """From only the ``r`` largest entries the sweep must return the full projection's
    ``(t, x[:b], b)`` when ``b < r``, and decline (``None``) otherwise; ties included."""
    rng = np.random.default_rng(21)
    for trial in range(300):
        n = int(rng.integers(2, 40))
        lam = np.sort(np.round(rng.standard_normal(n), 1 if trial % 2 else 6))[::-1].copy()
        k = int(rng.integers(1, n + 1))
        t0 = float(rng.uniform(-3.0, 1.0)) * abs(float(np.sum(lam[:k]))) + float(
            rng.uniform(-1.0, 1.0)
        )
        t, x, b = spectral.project_sum_largest(t0, lam, k)
        for r in range(k, n + 1):
            part = spectral._sum_largest_sweep(t0, lam[:r].copy(), k, n)
            if b < r or r == n:
                assert part is not None, (trial, r, b)
                tp, xp_, bp = part
                assert (tp, bp) == (t, b)
                np.testing.assert_array_equal(xp_[:b], x[:b])
            else:
                assert part is None, (trial, r, b)


@pytest.mark.parametrize("t_scale", [0.9, -3.0])
def test_sum_largest_cone_partial_eigh_matches_full(t_scale: float) -> None:
    """n = 200, k = 10, through a solver's workspace: the top 20 eigenpairs (LAPACK ?syevr)
    serve the projection. With ``t0 = 0.9 sum_10`` 13 eigenvalues move and the partial route
    is exact; with a very negative ``t0`` almost all move, the partial try declines and the full
    ``eigh`` takes over. Both agree with the stateless (full ``eigh``) projection, which is
    checked against Moreau's conditions."""
    n, k = 200, 10
    cones = ConeSpec(sl_n=(n,), sl_k=(k,))
    rng = np.random.default_rng(4)
    X = random_symmetric(rng, n)
    lam = np.linalg.eigvalsh(X)[::-1]
    z = np.concatenate(([t_scale * abs(float(np.sum(lam[:k])))], svec(X)))
    work = ConeWorkspace()
    p = project_cone(z, cones, work=work)
    state = work.sum_largest[0]
    if t_scale > 0:
        assert (state.partial, state.full, state.retries, state.changed) == (1, 0, 0, 13)
    else:
        assert (state.partial, state.full, state.retries) == (0, 1, 1)
        assert state.changed > 150
    full = assert_projection(z, cones)
    np.testing.assert_allclose(p, full, rtol=0, atol=1e-11 * np.linalg.norm(z))
    # the next call is sized from the last one: 13 + 6 = 19 (within n / 10) or too many
    project_cone(z, cones, work=work)
    assert state.partial == (2 if t_scale > 0 else 0)


def test_ell1_threshold_without_sort_matches_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(13)
    cases = []
    for trial in range(210):
        # up to 300 entries, and ten at the sizes of a robust-PCA block (vectorised sums)
        size = int(rng.integers(1, 300)) if trial < 200 else int(rng.integers(2_000, 50_000))
        x = rng.standard_normal(size)
        if trial % 3 == 0:
            x = np.round(2 * x) / 2  # many ties
        t0 = float(rng.uniform(-0.5, 1.2) * np.abs(x).sum())
        cases.append((t0, x))
    # three implementations of one projection: the compiled host path (Michelot), the
    # array-module path that serves the GPU (Michelot), and that path forced to sort
    host = [spectral.project_ell1_epigraph(t0, x) for t0, x in cases]
    xp_michelot = [spectral._ell1_epigraph_xp(np, t0, x, False) for t0, x in cases]
    monkeypatch.setattr(spectral, "_MICHELOT_MAX_ITER", 0)  # forces the sort
    for (t0, x), (t, p), (tm, pm) in zip(cases, host, xp_michelot, strict=True):
        ts, ps = spectral._ell1_epigraph_xp(np, t0, x, False)
        for tt, pp in ((t, p), (tm, pm)):
            assert tt == pytest.approx(ts, abs=1e-12 * max(1.0, abs(t0)))
            np.testing.assert_allclose(pp, ps, rtol=0, atol=1e-12 * max(1.0, np.abs(x).max()))
        # sorted non-negative input (singular values), host and array-module paths
        sig = np.sort(np.abs(x))[::-1].copy()
        th, ph = spectral.project_ell1_epigraph(t0, sig, sorted_abs=True)
        tx, px = spectral._ell1_epigraph_xp(np, t0, sig, True)
        assert th == pytest.approx(tx, abs=1e-12 * max(1.0, abs(t0)))
        np.testing.assert_allclose(ph, px, rtol=0, atol=1e-12 * max(1.0, sig[0]))


def test_nuclear_gram_route_matches_svd_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a state, well-conditioned blocks are projected through ``eigh(Y Y^T)``, the others
    by the SVD; the two agree to 1e-10 of ``|z|`` across condition numbers on both sides of the
    guard, for every head from inside the cone to far outside."""
    rng = np.random.default_rng(29)
    cases = []
    for m, n in ((6, 3), (60, 30), (100, 50), (40, 40)):
        for ratio in (0.9, 0.1, 0.0101, 0.0099, 1e-6, 0.0):
            U, _ = np.linalg.qr(rng.standard_normal((m, n)))
            V, _ = np.linalg.qr(rng.standard_normal((n, n)))
            sig = np.geomspace(1.0, max(ratio, 1e-300), n) if ratio else np.r_[np.ones(n - 1), 0.0]
            X = (U * sig) @ V.T  # m x n, stored column-major after the head
            for head in (-2.0, 0.0, 0.3, 0.9, 1.5):
                t0 = head * sig.sum()
                cases.append((np.concatenate(([t0], X.reshape(-1, order="F"))), m, n))
    states = [spectral.NuclearConeState() for _ in cases]  # fresh: each tries the Gram route
    fast = [
        spectral.project_nuclear_cone(z, m, n, st)
        for (z, m, n), st in zip(cases, states, strict=True)
    ]
    # sigma_min / sigma_max of 0.9, 0.1 and 0.0101 by eigh (4 shapes x 3 ratios x 5 heads),
    # 0.0099 and below by the SVD
    assert sum(st.gram for st in states) == 4 * 3 * 5
    assert sum(st.svd for st in states) == len(cases) - 4 * 3 * 5
    monkeypatch.setattr(spectral, "_gram_singular", None)  # the stateless call never tries it
    for (z, m, n), p in zip(cases, fast, strict=True):
        ref = spectral.project_nuclear_cone(z, m, n)
        np.testing.assert_allclose(p, ref, rtol=0, atol=1e-10 * np.linalg.norm(z))


def test_nuclear_route_is_retried_after_a_backoff() -> None:
    """A refused Gram try is followed by 16 SVD calls, then 32 after a second refusal; once the
    points are well conditioned again the Gram route serves every call."""
    rng = np.random.default_rng(31)
    U, _ = np.linalg.qr(rng.standard_normal((8, 4)))

    def point(sig: list[float]) -> np.ndarray:
        return np.concatenate(([0.1], (U * sig).reshape(-1, order="F")))

    state = spectral.NuclearConeState()
    tried = []
    for z in [point([1.0, 0.5, 0.1, 1e-4])] * 20 + [point([1.0, 0.9, 0.8, 0.7])] * 40:
        tried.append(state.skip == 0)
        spectral.project_nuclear_cone(z, 8, 4, state)
    assert [i for i, t in enumerate(tried) if t][:3] == [0, 17, 50]
    assert all(tried[50:]) and state.gram == 10 and state.backoff == spectral._GRAM_RETRY


@pytest.mark.parametrize("head", [-50.0, 0.0, 0.5, 50.0])
def test_matrix_cones_write_into_a_given_output(head: float) -> None:
    """``out=`` gives the same projection as a new array, in the buffer given (a view of a
    larger vector, as the product-cone projection passes), on every branch: inside, the polar,
    and a proper projection; the input is left alone."""
    rng = np.random.default_rng(37)
    S = random_symmetric(rng, 7)
    Y = rng.standard_normal((9, 5))
    cases: list[tuple[Callable[..., Any], np.ndarray, dict[str, Any]]] = [
        (spectral.project_psd_cone, svec(S + head / 10.0 * np.eye(7)), {}),
        (spectral.project_logdet_cone, np.r_[head, 1.0, svec(S + 3.0 * np.eye(7))], {"n": 7}),
        (spectral.project_nuclear_cone, np.r_[head, Y.reshape(-1, order="F")], {"m": 9, "n": 5}),
        (spectral.project_sum_largest_cone, np.r_[head, svec(S)], {"n": 7, "k": 3}),
    ]
    for project, z, kw in cases:
        z_copy = z.copy()
        expected = project(z, **kw)
        host = np.full(z.size + 3, np.nan)
        view = host[2 : 2 + z.size]
        got = project(z, **kw, out=view)
        assert got is view
        np.testing.assert_array_equal(view, expected)
        assert np.isnan(host[:2]).all() and np.isnan(host[-1])
        np.testing.assert_array_equal(z, z_copy)


# --------------------------------------------------------------------------------------------
# GPU
# --------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")
def test_cupy_matches_numpy() -> None:
    import cupy

    rng = np.random.default_rng(12)
    for trial in range(3):
        z = random_point(rng, MIXED, ties=trial == 1)
        for dual in (False, True):
            cpu = project_cone(z, MIXED, dual=dual)
            gpu = project_cone(cupy.asarray(z), MIXED, dual=dual)
            assert type(gpu).__module__.startswith("cupy")
            np.testing.assert_allclose(gpu.get(), cpu, rtol=0, atol=1e-10 * np.linalg.norm(z))
