"""The SCS-type conic solver and the problem templates against cvxpy + Clarabel.

Every solved case recomputes SCS's residuals from the returned ``(x, y, s)`` with the unscaled
data and checks cone membership with :func:`in_cone_residual` (independent of the projections);
certificates of infeasibility and unboundedness are verified the same way.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from workers.solvers.conic.cones import ConeSpec, in_cone_residual
from workers.solvers.conic.scs import solve_conic
from workers.solvers.conic.templates import (
    experimental_design,
    graph_partitioning,
    max_cut,
    robust_pca,
    sdp,
)
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult, SolverStatus

EPS = 1e-6


def _clarabel(prob: cp.Problem) -> float:
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return float(prob.value)


def _check_solution(
    A: Any, b: np.ndarray, c: np.ndarray, cones: ConeSpec, res: SolverResult, P: Any = None
) -> None:
    """SCS's three stopping tests, recomputed here on the unscaled data, plus cone membership
    of ``s`` and ``y`` and the certificate's agreement with the recomputation."""
    assert res.status is SolverStatus.CONVERGED, res.message
    x, y, s = (np.asarray(res.solution[k]) for k in ("x", "y", "s"))
    Ax = A @ x
    Aty = A.T @ y
    Px = np.zeros_like(x) if P is None else P @ x
    inf = lambda v: float(np.max(np.abs(v))) if v.size else 0.0  # noqa: E731
    pres = inf(Ax + s - b)
    dres = inf(Px + Aty + c)
    xPx, cx, by = float(x @ Px), float(c @ x), float(b @ y)
    gap = abs(xPx + cx + by)
    assert pres <= EPS + EPS * max(inf(Ax), inf(s), inf(b)) * (1 + 1e-9)
    assert dres <= EPS + EPS * max(inf(Px), inf(Aty), inf(c)) * (1 + 1e-9)
    assert gap <= EPS + EPS * max(abs(xPx), abs(cx), abs(by)) * (1 + 1e-9)
    assert res.certificate["primal_residual"] == pytest.approx(pres, rel=1e-6, abs=1e-12)
    assert res.certificate["dual_residual"] == pytest.approx(dres, rel=1e-6, abs=1e-12)
    assert res.objective == pytest.approx(0.5 * xPx + cx, rel=1e-9, abs=1e-12)
    scale = 1.0 + max(inf(s), inf(y))
    assert in_cone_residual(s, cones) <= 1e-8 * scale
    assert in_cone_residual(y, cones, dual=True) <= 1e-8 * scale
    assert abs(float(s @ y)) <= 1e-4 * scale


# --- problem factories ------------------------------------------------------------------------
def _lp(seed: int, m: int = 30, n: int = 20) -> tuple[Any, ...]:
    """min c^T x  s.t.  G x <= h, 0 <= x <= 5, sum(x) = sum(x_feasible)."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n))
    xf = rng.random(n)
    h = G @ xf + rng.random(m)
    c = rng.standard_normal(n)
    A = np.vstack([np.ones((1, n)), G, -np.eye(n), np.eye(n)])
    b = np.concatenate([[xf.sum()], h, np.zeros(n), 5 * np.ones(n)])
    x = cp.Variable(n)
    ref = _clarabel(
        cp.Problem(cp.Minimize(c @ x), [cp.sum(x) == xf.sum(), G @ x <= h, x >= 0, x <= 5])
    )
    return sp.csc_matrix(A), b, c, ConeSpec(z=1, l=m + 2 * n), ref


def _qp(seed: int, n: int = 15, m: int = 10) -> tuple[Any, ...]:
    """min 1/2 x^T P x + c^T x  s.t.  G x <= h, F x = g."""
    rng = np.random.default_rng(seed)
    Mh = rng.standard_normal((n, n))
    P = Mh @ Mh.T / n + 0.1 * np.eye(n)
    G = rng.standard_normal((m, n))
    h = rng.random(m) + 0.1
    F = rng.standard_normal((2, n))
    g = F @ (0.01 * rng.random(n))
    c = rng.standard_normal(n)
    x = cp.Variable(n)
    ref = _clarabel(
        cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, P) + c @ x), [G @ x <= h, F @ x == g])
    )
    A = np.vstack([F, G])
    return sp.csc_matrix(A), np.concatenate([g, h]), c, ConeSpec(z=2, l=m), sp.csc_matrix(P), ref


def _socp(seed: int, n: int = 12, k: int = 3, q: int = 5) -> tuple[Any, ...]:
    """min c^T x  s.t.  ||F_i x + g_i|| <= h_i^T x + d_i, |x| <= 3."""
    rng = np.random.default_rng(seed)
    x0 = 0.3 * rng.standard_normal(n)
    rows, bs, cons = [], [], []
    x = cp.Variable(n)
    for _ in range(k):
        F = rng.standard_normal((q - 1, n))
        g = rng.standard_normal(q - 1)
        h = rng.standard_normal(n)
        d = np.linalg.norm(F @ x0 + g) - h @ x0 + 1.0
        rows.append(-np.vstack([h, F]))
        bs.append(np.concatenate([[d], g]))
        cons.append(cp.norm(F @ x + g) <= h @ x + d)
    c = rng.standard_normal(n)
    ref = _clarabel(cp.Problem(cp.Minimize(c @ x), cons + [cp.abs(x) <= 3]))
    A = np.vstack([np.eye(n), -np.eye(n), *rows])
    b = np.concatenate([3 * np.ones(2 * n), *bs])
    return sp.csc_matrix(A), b, c, ConeSpec(l=2 * n, q=(q,) * k), ref


def _solver(A: Any, b: Any, c: Any, cones: ConeSpec, P: Any = None, eps: float = EPS) -> Any:
    from workers.solvers.conic import scs

    return scs._Solver(
        A, b, c, cones, P=P, eps_abs=eps, eps_rel=eps, eps_infeas=1e-7, max_iter=10_000,
        warm_start=None, monitor=None, lookback=10, normalize=True, adaptive_scale=True,
        scale=0.1, alpha=1.5, rho_x=1e-6, interval=10, aa_type=2,
    )  # fmt: skip


# --- the solver on standard cones ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_lp_matches_clarabel(seed: int) -> None:
    A, b, c, cones, ref = _lp(seed)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    assert res.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)


def test_dense_and_sparse_input_agree() -> None:
    A, b, c, cones, _ = _lp(2)
    sparse_res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    dense_res = solve_conic(A.toarray(), b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, dense_res)
    assert dense_res.objective == pytest.approx(sparse_res.objective, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_qp_matches_clarabel(seed: int) -> None:
    A, b, c, cones, P, ref = _qp(seed)
    res = solve_conic(A, b, c, cones, P=P, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res, P=P)
    assert res.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)
    assert res.certificate["dual_objective"] == pytest.approx(ref, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_socp_matches_clarabel(seed: int) -> None:
    A, b, c, cones, ref = _socp(seed)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    assert res.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)


def test_sdp_template_matches_clarabel() -> None:
    rng = np.random.default_rng(3)
    n = 6
    C = rng.standard_normal((n, n))
    C = C + C.T
    As = [(lambda B: B + B.T)(rng.standard_normal((n, n))) for _ in range(3)] + [np.eye(n)]
    bb = np.array([np.trace(Ai) for Ai in As])  # X = I is feasible
    A, b, c, cones, recover = sdp(C, As, bb)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    X = cp.Variable((n, n), symmetric=True)
    ref = _clarabel(
        cp.Problem(
            cp.Minimize(cp.trace(C @ X)),
            [cp.trace(Ai @ X) == bi for Ai, bi in zip(As, bb, strict=True)] + [X >> 0],
        )
    )
    assert out["objective"] == pytest.approx(ref, rel=1e-4)
    assert np.linalg.eigvalsh(out["X"]).min() >= -1e-8
    Z = C - sum(
        yi * Ai for yi, Ai in zip(out["y"], As, strict=True)
    )  # dual slack from the multipliers
    np.testing.assert_allclose(out["Z"], Z, atol=1e-4)
    assert np.linalg.eigvalsh(out["Z"]).min() >= -1e-8


def test_normalize_off_and_type1_acceleration_still_solve() -> None:
    A, b, c, cones, ref = _socp(4)
    for kw in ({"normalize": False}, {"acceleration_type": 1}, {"acceleration_lookback": 0}):
        res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS, **kw)  # type: ignore[arg-type]
        _check_solution(A, b, c, cones, res)
        assert res.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)


def test_no_scale_change_near_the_tolerances() -> None:
    """The adaptive scale moves when its targets agree, unless the candidate is already within
    a small factor of the tolerances (a change there costs more iterations than it saves)."""
    from workers.solvers.conic import scs

    A, b, c, cones, _ = _lp(0)
    solver = _solver(A, b, c, cones)
    w_in = solver._initial_w()
    _, u, ut, u_tau, tau_t, s_scaled = solver._dr_step(w_in, feasible=False)
    chk, prods, _ = solver._cheap_check(u, u_tau, s_scaled)

    # every target 100x above the current scale, 50 iterations after the start (phase 1)
    solver._scale_target = lambda u, s: math.log(10.0)  # type: ignore[method-assign]

    def attempt(violation: float) -> Any:
        state = scs._ScaleState(last=0, recent=[math.log(10.0)] * 2)
        near = dataclasses.replace(
            chk, primal_residual=violation * chk.tol_primal, dual_residual=0.0, gap=0.0
        )
        return solver._adapt_scale(50, w_in, u, ut, u_tau, tau_t, s_scaled, prods, state, near)

    assert attempt(scs._RESCALE_MIN_VIOLATION) is None
    assert solver.scale == 0.1 and solver.rescales == 0
    assert attempt(2.0 * scs._RESCALE_MIN_VIOLATION) is not None
    assert solver.rescales == 1 and solver.scale > 0.1


def test_stopping_test_runs_between_checks_near_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a regular check is within a few times the tolerances, the stopping test also runs
    at the iterations in between: the same trajectory stops earlier, at a converged point."""
    from workers.solvers.conic import scs

    A, b, c, cones, ref = _lp(0)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    monkeypatch.setattr(scs, "_NEAR_END_VIOLATION", 0.0)  # regular checks only
    res10 = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    for r in (res, res10):
        _check_solution(A, b, c, cones, r)
        assert r.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)
    assert res10.iterations % 10 == 0
    assert res.iterations < res10.iterations  # 484 against 500 when written


@pytest.mark.parametrize("problem", ["lp", "qp"])
def test_stopping_pretest_never_rejects_a_converged_candidate(problem: str) -> None:
    """The cheap pre-test between checks may let a candidate through that the full test then
    rejects, but never the other way round; over many iterates and tolerances it says both."""
    if problem == "lp":
        A, b, c, cones, _ = _lp(1)
        P = None
    else:
        A, b, c, cones, P, _ = _qp(1)
    solver = _solver(A, b, c, cones, P)
    w = solver._initial_w()
    said = set()
    for k in range(80):
        w, u, _, u_tau, _, s_scaled = solver._dr_step(w, feasible=k == 0)
        for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-6):
            solver.eps_abs = solver.eps_rel = eps
            chk, _, _ = solver._cheap_check(u, u_tau, s_scaled)
            passed = solver._may_converge(u, u_tau, s_scaled)
            if chk.violation() <= 1.0:
                assert passed, (k, eps, chk)
            said.add(passed)
    assert said == {True, False}


# --- certificates -----------------------------------------------------------------------------
def test_infeasible_lp_certificate() -> None:
    # x1 >= 1 and x1 + x2 <= 0 with x2 >= 0
    A = sp.csc_matrix(np.array([[-1.0, 0.0], [1.0, 1.0], [0.0, -1.0]]))
    b = np.array([-1.0, 0.0, 0.0])
    c = np.array([1.0, 1.0])
    cones = ConeSpec(l=3)
    res = solve_conic(A, b, c, cones)
    assert res.status is SolverStatus.INFEASIBLE, res.message
    y = np.asarray(res.solution["y"])
    assert float(b @ y) == pytest.approx(-1.0)
    assert np.max(np.abs(A.T @ y)) <= 1e-6
    assert res.certificate["infeasibility_residual"] == pytest.approx(
        np.max(np.abs(A.T @ y)), abs=1e-12
    )
    assert in_cone_residual(y, cones, dual=True) <= 1e-10
    assert res.objective == np.inf


def test_unbounded_lp_certificate() -> None:
    # min -x1 - x2 s.t. x1 - x2 <= 1, x >= 0: unbounded along (1, 1)
    A = sp.csc_matrix(np.array([[1.0, -1.0], [-1.0, 0.0], [0.0, -1.0]]))
    b = np.array([1.0, 0.0, 0.0])
    c = np.array([-1.0, -1.0])
    cones = ConeSpec(l=3)
    res = solve_conic(A, b, c, cones)
    assert res.status is SolverStatus.UNBOUNDED, res.message
    x, s = np.asarray(res.solution["x"]), np.asarray(res.solution["s"])
    assert float(c @ x) == pytest.approx(-1.0)
    assert np.max(np.abs(A @ x + s)) <= 1e-6
    assert in_cone_residual(s, cones) <= 1e-10
    assert res.objective == -np.inf


def test_infeasible_socp_certificate() -> None:
    # ||x|| <= 1 and x1 >= 2
    A = sp.csc_matrix(np.array([[0.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]))
    b = np.array([1.0, 0.0, 0.0, -2.0])
    cones = ConeSpec(l=0, q=(3,), z=0)
    # rows: SOC (t=1, x) then x1 >= 2 must come first in SCS order (l before q)
    A = sp.vstack([A[3:], A[:3]]).tocsc()
    b = np.concatenate([b[3:], b[:3]])
    cones = ConeSpec(l=1, q=(3,))
    res = solve_conic(A, b, np.zeros(2), cones)
    assert res.status is SolverStatus.INFEASIBLE, res.message
    y = np.asarray(res.solution["y"])
    assert float(b @ y) == pytest.approx(-1.0)
    assert np.max(np.abs(A.T @ y)) <= 1e-6
    assert in_cone_residual(y, cones, dual=True) <= 1e-9


# --- monitor, warm start, validation -----------------------------------------------------------
def test_trace_and_max_iter() -> None:
    A, b, c, cones, _ = _socp(5)
    mon = Monitor(trace_every=5)
    res = solve_conic(A, b, c, cones, eps_abs=1e-12, eps_rel=1e-12, max_iter=40, monitor=mon)
    assert res.status is SolverStatus.MAX_ITER
    assert res.iterations == 40
    its = [p.iteration for p in mon.points]
    assert its[0] == 1 and its[-1] == 40
    assert {"primal_residual", "dual_residual", "duality_gap", "scale"} <= set(
        mon.points[-1].measures
    )
    assert "max_iter=40" in res.message
    # the certificate of a non-converged iterate is its recomputed residuals
    x, s = np.asarray(res.solution["x"]), np.asarray(res.solution["s"])
    assert res.certificate["primal_residual"] == pytest.approx(
        float(np.max(np.abs(A @ x + s - b))), rel=1e-6
    )


def test_cancellation() -> None:
    A, b, c, cones, _ = _socp(6)
    flag = threading.Event()
    flag.set()
    res = solve_conic(A, b, c, cones, monitor=Monitor(stop_flag=flag))
    assert res.status is SolverStatus.CANCELLED
    assert res.iterations == 0
    # the certificate describes the starting point (x, y, s) = 0
    assert res.certificate["primal_residual"] == pytest.approx(float(np.max(np.abs(b))))
    assert res.certificate["dual_residual"] == pytest.approx(float(np.max(np.abs(c))))


def test_warm_start_from_solution_is_fast() -> None:
    A, b, c, cones, _ = _socp(7)
    cold = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    warm = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS, warm_start=cold.solution)
    _check_solution(A, b, c, cones, warm)
    assert warm.iterations < cold.iterations / 2


def test_inputs_not_modified_and_validated() -> None:
    A, b, c, cones, _ = _lp(8)
    A0, b0, c0 = A.copy(), b.copy(), c.copy()
    solve_conic(A, b, c, cones, max_iter=20)
    assert (A != A0).nnz == 0
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(c, c0)
    with pytest.raises(ValueError, match="rows"):
        solve_conic(A, b, c, ConeSpec(l=3))
    with pytest.raises(ValueError):
        solve_conic(A, b[:-1], c, cones)
    with pytest.raises(ValueError):
        solve_conic(A, b, c, cones, alpha=2.5)
    with pytest.raises(ValueError, match="symmetric"):
        solve_conic(A, b, c, cones, P=sp.triu(np.ones((A.shape[1], A.shape[1]))))


# --- templates with spectral cones ---------------------------------------------------------------
def test_d_optimal_design_matches_log_det() -> None:
    rng = np.random.default_rng(10)
    V = rng.standard_normal((5, 10))
    A, b, c, cones, recover = experimental_design(V)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    w = cp.Variable(10)
    ref = _clarabel(
        cp.Problem(cp.Maximize(cp.log_det(V @ cp.diag(w) @ V.T)), [cp.sum(w) == 1, w >= 0])
    )
    assert out["objective"] == pytest.approx(ref, rel=1e-4)
    assert -res.objective == pytest.approx(ref, rel=1e-4)
    assert out["w"].sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("criterion", ["A", "E"])
def test_a_and_e_optimal_design(criterion: str) -> None:
    rng = np.random.default_rng(11)
    V = rng.standard_normal((4, 8))
    A, b, c, cones, recover = experimental_design(V, criterion=criterion)  # type: ignore[arg-type]
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    w = cp.Variable(8)
    M = V @ cp.diag(w) @ V.T
    obj = cp.Minimize(cp.tr_inv(M)) if criterion == "A" else cp.Maximize(cp.lambda_min(M))
    ref = _clarabel(cp.Problem(obj, [cp.sum(w) == 1, w >= 0]))
    assert out["objective"] == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("formulation", ["orthant", "ell1"])
@pytest.mark.parametrize("mu", [None, 0.5])
def test_robust_pca_matches_nuclear_norm(mu: float | None, formulation: str) -> None:
    rng = np.random.default_rng(12)
    M = rng.standard_normal((10, 2)) @ rng.standard_normal((2, 7))
    M[rng.random(M.shape) < 0.1] += 5.0
    A, b, c, cones, recover = robust_pca(M, mu=mu, formulation=formulation)  # type: ignore[arg-type]
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    L, S = cp.Variable(M.shape), cp.Variable(M.shape)
    lam = 1 / np.sqrt(10)
    obj = cp.normNuc(L) + lam * cp.sum(cp.abs(S))
    if mu is None:
        ref = _clarabel(cp.Problem(cp.Minimize(obj), [L + S == M]))
        np.testing.assert_allclose(out["L"] + out["S"], M, atol=1e-12)
    else:
        ref = _clarabel(cp.Problem(cp.Minimize(obj + cp.sum_squares(L + S - M) / (2 * mu))))
    assert out["L"].shape == M.shape
    assert out["objective"] == pytest.approx(ref, rel=1e-4)


def test_robust_pca_wide_matrix_is_transposed_back() -> None:
    rng = np.random.default_rng(13)
    M = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 9))
    A, b, c, cones, recover = robust_pca(M)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    assert out["L"].shape == (6, 9)
    L, S = cp.Variable(M.shape), cp.Variable(M.shape)
    ref = _clarabel(cp.Problem(cp.Minimize(cp.normNuc(L) + cp.sum(cp.abs(S)) / 3.0), [L + S == M]))
    assert out["objective"] == pytest.approx(ref, rel=1e-4)


def _random_graph(n: int, p: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = (rng.random((n, n)) < p).astype(float)
    W = np.triu(W, 1)
    return W + W.T


def test_graph_partitioning_bound_matches_lambda_sum_smallest() -> None:
    n, k = 12, 3
    W = _random_graph(n, 0.35, 14)
    Lap = np.diag(W.sum(axis=1)) - W
    A, b, c, cones, recover = graph_partitioning(Lap, k)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    d = cp.Variable(n)
    ref = _clarabel(
        cp.Problem(
            cp.Maximize(n / (2 * k) * cp.lambda_sum_smallest(Lap + cp.diag(d), k)),
            [cp.sum(d) == 0],
        )
    )
    assert out["objective"] == pytest.approx(ref, rel=1e-4)
    edges = np.array([(i, j, W[i, j]) for i in range(n) for j in range(i + 1, n) if W[i, j]])
    A2, b2, *_ = graph_partitioning(edges, k, n=n)
    assert (A2 != A).nnz == 0 and np.array_equal(b2, b)
    # a lower bound: no equipartition cuts less (checked on a few random ones)
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.permutation(np.repeat(np.arange(k), n // k))
        cut = 0.5 * sum(W[i, j] for i in range(n) for j in range(n) if labels[i] != labels[j])
        assert cut >= out["objective"] - 1e-6


def test_max_cut_sdp_and_rounding() -> None:
    n = 14
    W = _random_graph(n, 0.4, 15)
    A, b, c, cones, recover = max_cut(W, n_rounds=50, seed=1)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    _check_solution(A, b, c, cones, res)
    out = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    Lap = np.diag(W.sum(axis=1)) - W
    X = cp.Variable((n, n), symmetric=True)
    ref = _clarabel(cp.Problem(cp.Maximize(cp.trace(Lap @ X) / 4), [cp.diag(X) == 1, X >> 0]))
    assert out["objective"] == pytest.approx(ref, rel=1e-4)
    x = out["partition"]
    assert set(np.unique(x)) <= {-1.0, 1.0}
    assert out["cut_value"] == pytest.approx(0.25 * float(x @ Lap @ x))
    # Goemans-Williamson: expected ratio >= 0.878; the best of 50 hyperplanes does at least that
    assert 0.878 * out["objective"] <= out["cut_value"] <= out["objective"] + 1e-6
    again = recover(res.solution["x"], res.solution["y"], res.solution["s"])
    assert again["cut_value"] == out["cut_value"]  # seeded


def test_template_validation() -> None:
    with pytest.raises(ValueError):
        experimental_design(np.ones((3, 4)), criterion="Z")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        graph_partitioning(np.eye(3), 5)
    with pytest.raises(ValueError):
        robust_pca(np.ones((3, 3)), mu=-1.0)
    with pytest.raises(ValueError):
        robust_pca(np.ones((3, 3)), formulation="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        max_cut(np.ones((1, 1)))


@pytest.mark.parametrize("backend", ["dense", "sparse", "kkt"])
def test_linear_system_backends_agree(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The three factorisations of the KKT system solve the same QP (the back end is forced;
    the sparse ones also get sparse data and products)."""
    import workers.solvers.conic.linsys as linsys

    A, b, c, cones, P, ref = _qp(9, n=40, m=60)
    if backend != "dense":
        monkeypatch.setattr(linsys, "_DENSE_MAX_N", 10)  # keep A sparse through equilibration
        monkeypatch.setattr(linsys, "_DENSE_PRODUCT_SIZE", 0)  # sparse products
        monkeypatch.setattr(linsys, "_DENSE_PRODUCT_DENSITY", 2.0)
        monkeypatch.setattr(linsys.LinearSystem, "_choose_backend", _force(backend))
    res = solve_conic(A, b, c, cones, P=P, eps_abs=EPS, eps_rel=EPS)
    assert res.info["linsys"] == backend
    _check_solution(A, b, c, cones, res, P=P)
    assert res.objective == pytest.approx(ref, rel=1e-4, abs=1e-6)


def _force(backend: str) -> Any:
    def choose(self: Any) -> str:
        return backend

    return choose


def test_sparse_backend_with_a_dense_row() -> None:
    """A budget row 1^T x = const would fill the reduced matrix: the sparse back end factors
    without it and adds it back by Woodbury."""
    rng = np.random.default_rng(16)
    n, m = 300, 200
    G = sp.random(m, n, density=0.02, random_state=16, format="csc")
    x0 = rng.random(n)
    h = G @ x0 + 0.1
    c = rng.random(n)
    A = sp.vstack([sp.csc_matrix(np.ones((1, n))), G, -sp.identity(n)]).tocsc()
    b = np.concatenate([[x0.sum()], h, np.zeros(n)])
    cones = ConeSpec(z=1, l=m + n)
    res = solve_conic(A, b, c, cones, eps_abs=EPS, eps_rel=EPS)
    assert res.info["linsys"] == "sparse"
    _check_solution(A, b, c, cones, res)
    x = cp.Variable(n)
    ref = _clarabel(cp.Problem(cp.Minimize(c @ x), [cp.sum(x) == x0.sum(), G @ x <= h, x >= 0]))
    assert res.objective == pytest.approx(ref, rel=1e-4)
