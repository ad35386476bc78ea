"""Unit tests of the working-set coordinate-descent solvers (workers/solvers/prox/cd.py).

References are independent: scikit-learn (Lasso, ElasticNet, liblinear's l1 logistic
regression), cvxpy + Clarabel (weighted and group lasso), closed forms (least squares, lam >=
lam_max). Certificates are recomputed here from the returned ``x`` with the textbook formulas:
the primal value, a dual-feasible point built from the residual, and the duality gap.
"""

from __future__ import annotations

import math
import threading
import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

from workers.solvers.monitor import Monitor
from workers.solvers.prox import _cd_kernels as kern
from workers.solvers.prox.cd import (
    solve_group_lasso,
    solve_nonconvex_regression,
    solve_sparse_logreg,
    solve_sparse_regression,
)
from workers.solvers.result import SolverStatus

# Objective agreement with a reference solved to (near) machine precision.
OBJ_RTOL = 1e-6
# Our certificate at tol: the independently recomputed gap may differ by rounding and by the
# screened features being left out of our dual-point rescaling; allow a factor 2.
GAP_SLACK = 2.0


def correlated(m: int, n: int, *, rho: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian design with corr(a_i, a_j) = rho^|i-j| and a sparse planted signal."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((m, n))
    A = np.empty_like(Z)
    A[:, 0] = Z[:, 0]
    for j in range(1, n):
        A[:, j] = rho * A[:, j - 1] + math.sqrt(1.0 - rho**2) * Z[:, j]
    w = np.zeros(n)
    supp = rng.choice(n, size=max(1, n // 5), replace=False)
    w[supp] = rng.standard_normal(supp.size)
    b = A @ w + 0.5 * rng.standard_normal(m)
    return np.asfortranarray(A), b


INSTANCES = {
    "wide": dict(m=40, n=120, seed=1),
    "tall": dict(m=120, n=40, seed=2),
    "square-correlated": dict(m=60, n=60, rho=0.9, seed=3),
}


# --------------------------------------------------------------------------------------------------
# independent certificates
# --------------------------------------------------------------------------------------------------
def lasso_primal(A: np.ndarray, b: np.ndarray, lam: float, x: np.ndarray, l2: float = 0.0) -> float:
    r = A @ x - b
    return float(0.5 * r @ r + lam * np.abs(x).sum() + 0.5 * l2 * x @ x)


def lasso_dual_point(A: np.ndarray, b: np.ndarray, lam: float, x: np.ndarray) -> float:
    """D(theta) at theta = r / max(1, ||A^T r||_inf / lam); asserts dual feasibility."""
    r = b - A @ x
    theta = r / max(1.0, float(np.max(np.abs(A.T @ r))) / lam)
    assert np.max(np.abs(A.T @ theta)) <= lam * (1 + 1e-12)
    return float(b @ theta - 0.5 * theta @ theta)


def enet_dual(A: np.ndarray, b: np.ndarray, lam: float, l2: float, x: np.ndarray) -> float:
    """Elastic-net dual (no constraint) at theta = r:
    D = b.r - |r|^2 / 2 - sum_j (|a_j.r| - lam)_+^2 / (2 l2)."""
    r = b - A @ x
    excess = np.maximum(np.abs(A.T @ r) - lam, 0.0)
    return float(b @ r - 0.5 * r @ r - excess @ excess / (2.0 * l2))


def logreg_primal(A: np.ndarray, y: np.ndarray, lam: float, x: np.ndarray) -> float:
    return float(np.logaddexp(0.0, -y * (A @ x)).sum() + lam * np.abs(x).sum())


def logreg_dual(A: np.ndarray, y: np.ndarray, lam: float, x: np.ndarray) -> float:
    """-sum t log t + (1-t) log(1-t) at u = y sigma(-y Ax) / s, t = y u (feasible)."""
    p = 1.0 / (1.0 + np.exp(y * (A @ x)))
    s = max(1.0, float(np.max(np.abs(A.T @ (y * p)))) / lam)
    u = y * p / s
    assert np.max(np.abs(A.T @ u)) <= lam * (1 + 1e-12)
    t = y * u
    assert np.all((t >= 0) & (t <= 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(t > 0, t * np.log(t), 0.0) + np.where(t < 1, (1 - t) * np.log1p(-t), 0.0)
    return float(-ent.sum())


# --------------------------------------------------------------------------------------------------
# lasso / elastic net / weighted lasso
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_lasso_matches_sklearn_and_certificate(name: str, fraction: float) -> None:
    A, b = correlated(**INSTANCES[name])  # type: ignore[arg-type]
    m = A.shape[0]
    lam = fraction * float(np.max(np.abs(A.T @ b)))
    tol = 1e-9
    res = solve_sparse_regression(A, b, lam, tol=tol)
    x = res.solution["x"]
    assert res.status is SolverStatus.CONVERGED, res.message
    assert res.solution["support_size"] == np.count_nonzero(x)

    p = lasso_primal(A, b, lam, x)
    d = lasso_dual_point(A, b, lam, x)
    assert res.certificate["primal"] == pytest.approx(p, rel=1e-10)
    assert res.objective == pytest.approx(p, rel=1e-10)
    assert (p - d) / p <= GAP_SLACK * tol
    assert res.certificate["relative_gap"] <= tol

    sk = Lasso(alpha=lam / m, fit_intercept=False, tol=1e-14, max_iter=200_000).fit(A, b)
    p_sk = lasso_primal(A, b, lam, sk.coef_)
    assert abs(p - p_sk) / p_sk <= OBJ_RTOL
    assert p <= p_sk * (1 + 1e-9)  # we are certified; sklearn can only be worse


def test_lasso_with_support_near_m_uses_polishing() -> None:
    """Ill-conditioned regime (support ~ m, rho = 0.9) where the sign-pattern Newton steps run,
    including the removal steps taken while the iterate has more than m nonzeros."""
    A, b = correlated(100, 1000, rho=0.9, seed=3)
    lam = 0.005 * float(np.max(np.abs(A.T @ b)))
    tol = 1e-9
    res = solve_sparse_regression(A, b, lam, tol=tol)
    assert res.converged, res.message
    assert res.info["polish_steps"] > 0
    x = res.solution["x"]
    p = lasso_primal(A, b, lam, x)
    assert (p - lasso_dual_point(A, b, lam, x)) / p <= GAP_SLACK * tol
    assert np.count_nonzero(x) <= A.shape[0]  # a lasso solution with at most m nonzeros


@pytest.mark.parametrize("l1_ratio", [0.2, 0.7])
@pytest.mark.parametrize("name", ["wide", "tall"])
def test_elastic_net_matches_sklearn(name: str, l1_ratio: float) -> None:
    A, b = correlated(**INSTANCES[name])  # type: ignore[arg-type]
    m = A.shape[0]
    alpha = 0.05 * float(np.max(np.abs(A.T @ b))) / m
    lam, l2 = alpha * l1_ratio * m, alpha * (1 - l1_ratio) * m
    tol = 1e-9
    res = solve_sparse_regression(A, b, lam, l2=l2, tol=tol)
    x = res.solution["x"]
    assert res.converged, res.message
    p = lasso_primal(A, b, lam, x, l2)
    assert (p - enet_dual(A, b, lam, l2, x)) / p <= GAP_SLACK * tol
    sk = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14, max_iter=200_000
    )
    sk.fit(A, b)
    p_sk = lasso_primal(A, b, lam, sk.coef_, l2)
    assert abs(p - p_sk) / p_sk <= OBJ_RTOL


def test_weighted_lasso_with_unpenalised_columns_matches_clarabel() -> None:
    A, b = correlated(50, 80, seed=7)
    rng = np.random.default_rng(7)
    w = rng.uniform(0.5, 2.0, 80)
    w[[0, 5, 9]] = 0.0  # unpenalised: the dual point needs the projection
    lam = 0.05 * float(np.max(np.abs(A.T @ b)))
    res = solve_sparse_regression(A, b, lam, weights=w, tol=1e-10)
    assert res.converged, res.message
    x = res.solution["x"]
    xv = cp.Variable(80)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ xv - b) + lam * w @ cp.abs(xv)))
    prob.solve(solver=cp.CLARABEL)
    p = float(0.5 * np.sum((A @ x - b) ** 2) + lam * w @ np.abs(x))
    assert abs(p - prob.value) / prob.value <= OBJ_RTOL
    assert p <= prob.value * (1 + 1e-9)
    # the dual point of the certificate: the projected, rescaled residual is feasible
    r = b - A @ x
    U = A[:, w == 0]
    theta = r - U @ np.linalg.lstsq(U, r, rcond=None)[0]
    pen = w > 0
    theta /= max(1.0, float(np.max(np.abs(A[:, pen].T @ theta) / (lam * w[pen]))))
    assert np.max(np.abs(U.T @ theta)) <= 1e-8 * np.linalg.norm(b)
    dual = float(b @ theta - 0.5 * theta @ theta)
    assert (p - dual) / p <= 1e-8


def test_lam_zero_is_least_squares() -> None:
    A, b = correlated(80, 20, seed=4)
    res = solve_sparse_regression(A, b, 0.0, tol=1e-12)
    assert res.converged, res.message
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.allclose(res.solution["x"], x_ls, atol=1e-6 * np.abs(x_ls).max())


@pytest.mark.parametrize("l2", [0.0, 3.0])
def test_lam_above_lam_max_gives_zero_without_iterating(l2: float) -> None:
    A, b = correlated(30, 50, seed=5)
    lam_max = float(np.max(np.abs(A.T @ b)))
    res = solve_sparse_regression(A, b, 1.0001 * lam_max, l2=l2)
    assert res.converged
    assert res.iterations <= 1
    assert not np.any(res.solution["x"])
    assert res.solution["support_size"] == 0


def test_warm_start() -> None:
    A, b = correlated(60, 150, seed=6)
    lam_max = float(np.max(np.abs(A.T @ b)))
    cold = solve_sparse_regression(A, b, 0.02 * lam_max, tol=1e-10)
    x_sol = cold.solution["x"]
    x0 = x_sol.copy()
    again = solve_sparse_regression(A, b, 0.02 * lam_max, tol=1e-10, x0=x0)
    assert again.converged and again.iterations == 0
    assert np.array_equal(x0, x_sol)  # x0 not modified
    # a path step: from the solution at a larger lam
    prev = solve_sparse_regression(A, b, 0.03 * lam_max, tol=1e-10).solution["x"]
    warm = solve_sparse_regression(A, b, 0.02 * lam_max, tol=1e-10, x0=prev)
    assert warm.converged
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert warm.info["epochs"] <= cold.info["epochs"]


def test_inputs_not_modified_and_layouts_agree() -> None:
    A, b = correlated(40, 90, seed=8)
    A_c = np.ascontiguousarray(A)
    copies = (A.copy(), A_c.copy(), b.copy())
    lam = 0.05 * float(np.max(np.abs(A.T @ b)))
    r_f = solve_sparse_regression(A, b, lam, tol=1e-10)
    r_c = solve_sparse_regression(A_c, b, lam, tol=1e-10)
    assert np.array_equal(A, copies[0]) and np.array_equal(A_c, copies[1])
    assert np.array_equal(b, copies[2])
    assert np.allclose(r_f.solution["x"], r_c.solution["x"], atol=1e-8)


def test_max_iter_reports_honestly_and_monitor_traces() -> None:
    A, b = correlated(60, 200, seed=9)
    lam = 0.01 * float(np.max(np.abs(A.T @ b)))
    monitor = Monitor()
    res = solve_sparse_regression(A, b, lam, tol=1e-14, max_iter=1, monitor=monitor)
    assert res.status is SolverStatus.MAX_ITER
    assert res.iterations == 1
    x = res.solution["x"]
    p = lasso_primal(A, b, lam, x)
    assert res.certificate["primal"] == pytest.approx(p, rel=1e-10)
    assert res.certificate["relative_gap"] > 1e-14
    assert [pt.iteration for pt in monitor.points] == [0, 1]
    for key in ("duality_gap", "relative_gap", "working_set"):
        assert key in monitor.points[-1].measures
    assert monitor.points[-1].objective == pytest.approx(res.objective)


def test_cancellation() -> None:
    A, b = correlated(60, 200, seed=10)
    flag = threading.Event()
    flag.set()
    res = solve_sparse_regression(
        A, b, 0.01 * float(np.max(np.abs(A.T @ b))), monitor=Monitor(stop_flag=flag)
    )
    assert res.status is SolverStatus.CANCELLED
    assert res.iterations == 0


def test_invalid_inputs() -> None:
    A, b = correlated(10, 5, seed=0)
    with pytest.raises(ValueError):
        solve_sparse_regression(A, b[:-1], 1.0)
    with pytest.raises(ValueError):
        solve_sparse_regression(A, b, -1.0)
    with pytest.raises(ValueError):
        solve_sparse_regression(A, b, 1.0, weights=-np.ones(5))
    with pytest.raises(ValueError):
        solve_sparse_regression(A, b, 1.0, l2=-1.0)
    bad = A.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        solve_sparse_regression(bad, b, 1.0)
    with pytest.raises(ValueError):
        solve_sparse_logreg(A, b, 1.0)  # labels not in {-1, 1}
    with pytest.raises(ValueError):
        solve_nonconvex_regression(A, b, 1.0, 1.5, penalty="scad")  # gamma <= 2
    with pytest.raises(ValueError):
        solve_nonconvex_regression(A, b, 1.0, 3.0, penalty="l0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        solve_group_lasso(A, b, 1.0, np.zeros(4, dtype=int))


# --------------------------------------------------------------------------------------------------
# group lasso
# --------------------------------------------------------------------------------------------------
def group_lasso_clarabel(
    A: np.ndarray, b: np.ndarray, lam: float, inv: np.ndarray, w: np.ndarray
) -> float:
    x = cp.Variable(A.shape[1])
    pen = sum(w[g] * cp.norm(x[np.flatnonzero(inv == g)]) for g in range(w.size))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * pen))
    prob.solve(solver=cp.CLARABEL)
    return float(prob.value)


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("seed", [0, 1])
def test_group_lasso_matches_clarabel(seed: int, fraction: float) -> None:
    rng = np.random.default_rng(seed)
    A, b = correlated(50, 60, seed=20 + seed)
    sizes = rng.integers(1, 8, size=40)
    sizes = sizes[np.cumsum(sizes) <= 60]
    sizes = np.append(sizes, 60 - sizes.sum())
    sizes = sizes[sizes > 0]
    labels = rng.permutation(np.repeat(np.arange(sizes.size) * 3 + 100, sizes))  # scattered
    uniq, inv = np.unique(labels, return_inverse=True)
    w = np.sqrt(np.bincount(inv).astype(float))
    cn = np.array([np.linalg.norm(A[:, inv == g].T @ b) for g in range(uniq.size)])
    lam = fraction * float(np.max(cn / w))
    tol = 1e-9
    res = solve_group_lasso(A, b, lam, labels, tol=tol)
    assert res.converged, res.message
    x = res.solution["x"]
    xn = np.array([np.linalg.norm(x[inv == g]) for g in range(uniq.size)])
    p = float(0.5 * np.sum((A @ x - b) ** 2) + lam * w @ xn)
    assert res.objective == pytest.approx(p, rel=1e-10)
    # dual point: rescaled residual, feasible for every group constraint
    r = b - A @ x
    cr = np.array([np.linalg.norm(A[:, inv == g].T @ r) for g in range(uniq.size)])
    theta = r / max(1.0, float(np.max(cr / (lam * w))))
    d = float(b @ theta - 0.5 * theta @ theta)
    assert (p - d) / p <= GAP_SLACK * tol
    ref = group_lasso_clarabel(A, b, lam, inv, w)
    assert abs(p - ref) / ref <= OBJ_RTOL
    assert p <= ref * (1 + 1e-9)
    assert set(res.solution["active_groups"]) == set(uniq[xn > 0])


def test_group_lasso_lam_max_and_custom_weights() -> None:
    A, b = correlated(40, 30, seed=3)
    groups = np.arange(30) // 3
    w = np.linspace(0.5, 2.0, 10)
    lam_max = max(np.linalg.norm(A[:, groups == g].T @ b) / w[g] for g in range(10))
    res = solve_group_lasso(A, b, 1.0001 * lam_max, groups, weights=w)
    assert res.converged and res.iterations <= 1 and not np.any(res.solution["x"])
    lam = 0.2 * lam_max
    res = solve_group_lasso(A, b, lam, groups, weights=w, tol=1e-10)
    assert res.converged
    ref = group_lasso_clarabel(A, b, lam, groups, w)
    assert abs(res.objective - ref) / ref <= OBJ_RTOL


def test_group_lasso_with_an_unpenalised_group() -> None:
    rng = np.random.default_rng(12)
    A = rng.standard_normal((40, 30))
    b = rng.standard_normal(40)
    groups = np.arange(30) // 3
    w = np.ones(10)
    w[2] = 0.0
    res = solve_group_lasso(A, b, 3.0, groups, weights=w, tol=1e-10)
    assert res.converged, res.message
    assert np.all(res.solution["x"][6:9] != 0.0)
    ref = group_lasso_clarabel(A, b, 3.0, groups, w)
    assert abs(res.objective - ref) / ref <= OBJ_RTOL


def test_group_block_step_is_exact() -> None:
    """The exact block minimiser (secular equation) against a generic convex solver."""
    rng = np.random.default_rng(0)
    for size in (1, 3, 6):
        B = rng.standard_normal((10, size)) * np.linspace(0.1, 3.0, size)
        G = B.T @ B
        q = rng.standard_normal(size) * 5
        t = 0.5 * np.linalg.norm(q)
        e, V = np.linalg.eigh(G)
        u = np.empty(size)
        kern._group_block_min(e, V, size, V.T @ q, t, u)
        uv = cp.Variable(size)
        prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(uv, G) - q @ uv + t * cp.norm(uv)))
        prob.solve(solver=cp.CLARABEL)
        val = 0.5 * u @ G @ u - q @ u + t * np.linalg.norm(u)
        assert val <= prob.value + 1e-9 * abs(prob.value)
        assert np.allclose(u, uv.value, atol=1e-4)
        # stationarity of the block problem at u != 0: G u - q + t u / ||u|| = 0
        kkt = G @ u - q + t * u / np.linalg.norm(u)
        assert np.linalg.norm(kkt) <= 1e-10 * np.linalg.norm(q)


# --------------------------------------------------------------------------------------------------
# sparse logistic regression
# --------------------------------------------------------------------------------------------------
def logreg_problem(m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    A, _ = correlated(m, n, seed=seed)
    rng = np.random.default_rng(seed)
    w = np.zeros(n)
    w[rng.choice(n, 5, replace=False)] = 2.0 * rng.standard_normal(5)
    y = np.where(A @ w + 0.5 * rng.standard_normal(m) > 0, 1.0, -1.0)
    return A, y


@pytest.mark.parametrize("fraction", [0.3, 0.05, 0.01])
@pytest.mark.parametrize("shape", [(80, 30), (40, 100)])
def test_sparse_logreg_matches_liblinear(shape: tuple[int, int], fraction: float) -> None:
    A, y = logreg_problem(*shape, seed=shape[1])
    lam = fraction * float(np.max(np.abs(A.T @ y))) / 2
    tol = 1e-9
    res = solve_sparse_logreg(A, y, lam, tol=tol)
    assert res.converged, res.message
    x = res.solution["x"]
    p = logreg_primal(A, y, lam, x)
    assert res.objective == pytest.approx(p, rel=1e-10)
    assert (p - logreg_dual(A, y, lam, x)) / p <= GAP_SLACK * tol
    with warnings.catch_warnings():
        # scikit-learn >= 1.8 deprecates `penalty` in favour of `l1_ratio`; older versions
        # ignore `l1_ratio` for liblinear. `penalty="l1"` means the same in both.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        sk = LogisticRegression(
            penalty="l1",
            C=1.0 / lam,
            solver="liblinear",
            fit_intercept=False,
            tol=1e-12,
            max_iter=100_000,
        ).fit(A, y)
    p_sk = logreg_primal(A, y, lam, sk.coef_.ravel())
    assert abs(p - p_sk) / p_sk <= OBJ_RTOL
    assert p <= p_sk * (1 + 1e-9)


def test_sparse_logreg_breast_cancer_and_lam_max() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, t = load_breast_cancer(return_X_y=True)
    A = StandardScaler().fit_transform(X)
    y = np.where(t == 1, 1.0, -1.0)
    lam_max = float(np.max(np.abs(A.T @ y))) / 2
    res = solve_sparse_logreg(A, y, lam_max)
    assert res.converged and res.iterations <= 1 and not np.any(res.solution["x"])
    lam = 0.01 * lam_max
    res = solve_sparse_logreg(A, y, lam, tol=1e-8)
    assert res.converged, res.message
    x = res.solution["x"]
    p = logreg_primal(A, y, lam, x)
    assert (p - logreg_dual(A, y, lam, x)) / p <= GAP_SLACK * 1e-8


# --------------------------------------------------------------------------------------------------
# MCP / SCAD
# --------------------------------------------------------------------------------------------------
def penalty_derivative(x: np.ndarray, lam: float, gamma: float, penalty: str) -> np.ndarray:
    a = np.abs(x)
    if penalty == "mcp":
        d = np.maximum(lam - a / gamma, 0.0)
    else:
        d = np.where(a <= lam, lam, np.maximum(gamma * lam - a, 0.0) / (gamma - 1.0))
    return np.sign(x) * d


def penalty_value(x: np.ndarray, lam: float, gamma: float, penalty: str) -> float:
    a = np.abs(x)
    if penalty == "mcp":
        v = np.where(a <= gamma * lam, lam * a - a**2 / (2 * gamma), gamma * lam**2 / 2)
    else:
        v = np.where(
            a <= lam,
            lam * a,
            np.where(
                a <= gamma * lam,
                (2 * gamma * lam * a - a**2 - lam**2) / (2 * (gamma - 1)),
                lam**2 * (gamma + 1) / 2,
            ),
        )
    return float(v.sum())


@pytest.mark.parametrize(("penalty", "gamma"), [("mcp", 3.0), ("mcp", 1.2), ("scad", 3.7)])
@pytest.mark.parametrize("name", ["wide", "tall"])
def test_nonconvex_kkt(name: str, penalty: str, gamma: float) -> None:
    A, b = correlated(**INSTANCES[name])  # type: ignore[arg-type]
    lam = 0.1 * float(np.max(np.abs(A.T @ b)))
    tol = 1e-8
    res = solve_nonconvex_regression(A, b, lam, gamma, penalty=penalty, tol=tol)  # type: ignore[arg-type]
    assert res.converged, res.message
    x = res.solution["x"]
    c = A.T @ (b - A @ x)  # -gradient of the data fit
    dist = np.where(
        x == 0,
        np.maximum(np.abs(c) - lam, 0.0),
        np.abs(c - penalty_derivative(x, lam, gamma, penalty)),
    )
    assert np.max(dist) / lam <= 1.01 * tol
    p = 0.5 * float(np.sum((A @ x - b) ** 2)) + penalty_value(x, lam, gamma, penalty)
    assert res.objective == pytest.approx(p, rel=1e-10)
    # a critical point reached by descent from 0: no worse than x = 0
    assert p <= 0.5 * float(b @ b)


@pytest.mark.parametrize("penalty", ["mcp", "scad"])
def test_nonconvex_with_huge_gamma_is_the_lasso(penalty: str) -> None:
    A, b = correlated(50, 80, seed=11)
    lam = 0.1 * float(np.max(np.abs(A.T @ b)))
    lasso = solve_sparse_regression(A, b, lam, tol=1e-12)
    res = solve_nonconvex_regression(A, b, lam, 1e9, penalty=penalty, tol=1e-10)  # type: ignore[arg-type]
    assert res.converged
    assert np.allclose(res.solution["x"], lasso.solution["x"], atol=1e-5)


@pytest.mark.parametrize(("penalty", "gamma"), [("mcp", 3.0), ("mcp", 0.3), ("scad", 2.5)])
def test_nonconvex_scalar_step_is_a_global_minimiser(penalty: str, gamma: float) -> None:
    """The 1-D coordinate step against a dense grid, including gamma * L <= 1 (MCP)."""
    pen = kern.PEN_MCP if penalty == "mcp" else kern.PEN_SCAD
    lam = 1.0
    grid = np.linspace(-12, 12, 240_001)
    for L in (0.5, 1.0, 4.0):
        pen_grid = np.array(
            [penalty_value(np.array([u]), lam, gamma, penalty) for u in grid[::100]]
        )
        coarse = grid[::100]
        for v in np.linspace(-8, 8, 33):
            u = kern._nonconvex_1d(v, L, lam, gamma, pen)
            f_u = 0.5 * L * (u - v) ** 2 + penalty_value(np.array([u]), lam, gamma, penalty)
            f_grid = 0.5 * L * (coarse - v) ** 2 + pen_grid
            assert f_u <= f_grid.min() + 1e-9
