"""Unit tests of the lasso solver (workers/solvers/lasso.py).

The reference objective, the duality gap and the dual point are all recomputed here from the
returned ``x`` with the textbook formulas, independently of the solver's own arithmetic.
"""

from __future__ import annotations

import math
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from workers.solvers.lasso import solve_lasso
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverStatus


def make_problem(
    m: int, n: int, *, rho: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian design with AR(1) correlation ``rho`` between neighbouring columns, sparse truth."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((m, n))
    A = np.empty_like(Z)
    A[:, 0] = Z[:, 0]
    for j in range(1, n):
        A[:, j] = rho * A[:, j - 1] + math.sqrt(1.0 - rho**2) * Z[:, j]
    w = np.zeros(n)
    support = rng.choice(n, size=max(1, n // 10), replace=False)
    w[support] = rng.standard_normal(support.size)
    b = A @ w + 0.3 * rng.standard_normal(m)
    return A, b


def lam_max(A: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(A.T @ b)))


def primal(A: np.ndarray, b: np.ndarray, lam: float, x: np.ndarray) -> float:
    r = A @ x - b
    return float(0.5 * r @ r + lam * np.sum(np.abs(x)))


def dual_by_rescaling(A: np.ndarray, b: np.ndarray, lam: float, x: np.ndarray) -> float:
    """D(theta) at theta = r / max(1, ||A^T r||_inf / lam), r = b - A x (textbook form)."""
    r = b - A @ x
    theta = r / max(1.0, float(np.max(np.abs(A.T @ r))) / lam)
    assert np.max(np.abs(A.T @ theta)) <= lam * (1 + 1e-12)  # dual feasible
    return float(0.5 * b @ b - 0.5 * np.sum((b - theta) ** 2))


INSTANCES = {
    "tall": dict(m=120, n=40, rho=0.0, seed=1),
    "wide": dict(m=50, n=150, rho=0.0, seed=2),
    "wide-correlated": dict(m=60, n=200, rho=0.9, seed=3),
    "tall-correlated": dict(m=150, n=60, rho=0.95, seed=4),
}


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_matches_sklearn_and_certificate_is_honest(name: str, fraction: float) -> None:
    A, b = make_problem(**INSTANCES[name])  # type: ignore[arg-type]
    m = A.shape[0]
    lam = fraction * lam_max(A, b)

    result = solve_lasso(A, b, lam, tol=1e-10, max_iter=50_000)
    x = result.solution["x"]

    assert result.status is SolverStatus.CONVERGED, result.message
    assert result.converged
    assert isinstance(x, np.ndarray) and x.shape == (A.shape[1],)

    # sklearn minimises ||A x - b||^2 / (2 m) + alpha ||x||_1, i.e. our problem / m.
    sk = Lasso(alpha=lam / m, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(A, b)
    p_sk = primal(A, b, lam, sk.coef_)
    p_ours = primal(A, b, lam, x)

    # The reported objective is P at the returned x (relative 1e-12: rounding only).
    assert result.objective == pytest.approx(p_ours, rel=1e-12)
    # Same optimum as sklearn to 1e-6 relative ...
    assert abs(p_ours - p_sk) <= 1e-6 * p_sk
    # ... and not worse than sklearn beyond our certified gap (P_ours - P* <= gap, P* <= P_sk),
    # plus 1e-13 relative for rounding in the test's own objective evaluations.
    gap = result.certificate["duality_gap"]
    assert p_ours <= p_sk + gap + 1e-13 * p_sk

    # Certificate recomputed independently from x with the textbook dual point.
    d_test = dual_by_rescaling(A, b, lam, x)
    gap_test = p_ours - d_test
    assert d_test <= p_sk + 1e-13 * p_sk  # weak duality against an independent solver
    # Test and solver evaluate the same gap by different formulas; rounding in the textbook
    # form is ~1e-16 * ||b||^2, so agreement is asked to 1e-11 * ||b||^2 absolute.
    assert abs(gap - gap_test) <= 1e-11 * float(b @ b)
    assert result.certificate["primal"] == pytest.approx(p_ours, rel=1e-12)
    assert result.certificate["dual"] == pytest.approx(d_test, rel=1e-11)
    assert result.certificate["relative_gap"] == pytest.approx(gap / p_ours, rel=1e-12, abs=1e-300)
    assert 0.0 <= result.certificate["relative_gap"] <= 1e-10
    assert gap_test <= 1e-10 * p_ours + 1e-11 * float(b @ b)


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_lam_at_or_above_lam_max_gives_zero(factor: float) -> None:
    A, b = make_problem(40, 80, seed=5)
    lam = factor * lam_max(A, b)
    result = solve_lasso(A, b, lam)
    assert result.status is SolverStatus.CONVERGED
    assert np.count_nonzero(result.solution["x"]) == 0
    assert result.objective == pytest.approx(0.5 * float(b @ b), rel=1e-14)
    assert result.certificate["duality_gap"] == 0.0


def test_lam_above_lam_max_from_warm_start_goes_to_zero() -> None:
    A, b = make_problem(40, 80, seed=6)
    lam = 1.5 * lam_max(A, b)
    x0 = np.ones(A.shape[1])
    result = solve_lasso(A, b, lam, tol=1e-10, x0=x0)
    assert result.status is SolverStatus.CONVERGED
    assert result.iterations > 0
    # Not exactly 0 necessarily, but its objective is within the certified gap of 0.5 ||b||^2.
    assert result.objective <= 0.5 * float(b @ b) * (1 + 1e-10) + 1e-300
    assert np.max(np.abs(result.solution["x"])) <= 1e-6


def test_warm_start_at_the_solution_needs_few_iterations() -> None:
    A, b = make_problem(80, 120, rho=0.5, seed=7)
    lam = 0.1 * lam_max(A, b)
    cold = solve_lasso(A, b, lam, tol=1e-10)
    warm = solve_lasso(A, b, lam, tol=1e-8, x0=cold.solution["x"])
    assert cold.converged and warm.converged
    assert warm.iterations <= 2
    assert warm.solution["x"] is not cold.solution["x"]  # the result never aliases x0


def test_caller_arrays_are_not_mutated() -> None:
    A, b = make_problem(60, 90, rho=0.8, seed=8)
    x0 = np.linspace(-1.0, 1.0, A.shape[1])
    A_copy, b_copy, x0_copy = A.copy(), b.copy(), x0.copy()
    result = solve_lasso(A, b, 0.05 * lam_max(A, b), tol=1e-8, x0=x0)
    assert result.converged
    np.testing.assert_array_equal(A, A_copy)
    np.testing.assert_array_equal(b, b_copy)
    np.testing.assert_array_equal(x0, x0_copy)
    assert not np.shares_memory(result.solution["x"], x0)


def test_max_iter_returns_best_iterate_with_its_certificate() -> None:
    # On this instance the objective goes up from iteration 9 to 10 (by ~1e-3 relative), so with
    # max_iter=10 the best iterate is not the last one.
    A, b = make_problem(50, 20, seed=1)
    lam = 0.01 * lam_max(A, b)
    monitor = Monitor(trace_every=1)
    result = solve_lasso(A, b, lam, tol=1e-13, max_iter=10, monitor=monitor)
    x = result.solution["x"]
    assert result.status is SolverStatus.MAX_ITER
    assert result.iterations == 10
    assert [pt.iteration for pt in monitor.points] == list(range(1, 11))
    objectives = [pt.objective for pt in monitor.points]
    assert objectives[-1] > min(objectives) * (1 + 1e-5)  # precondition: last is not best
    p = primal(A, b, lam, x)
    assert result.objective == pytest.approx(p, rel=1e-12)
    assert result.objective == pytest.approx(min(objectives), rel=1e-12)
    assert result.info["returned_iteration"] == 1 + int(np.argmin(objectives))
    gap_test = p - dual_by_rescaling(A, b, lam, x)
    assert result.certificate["duality_gap"] == pytest.approx(gap_test, rel=1e-8)
    assert result.certificate["relative_gap"] > 1e-13


def test_acceleration_and_restart_are_effective() -> None:
    # Regression guard on speed: 662 iterations when written (FISTA-BKTR + gradient restart).
    # Without restart, or restarting at every step (proximal gradient), it takes over 5000.
    A, b = make_problem(100, 300, rho=0.9, seed=21)
    result = solve_lasso(A, b, 0.01 * lam_max(A, b), tol=1e-8)
    assert result.converged
    assert result.iterations <= 1500
    assert 1 <= result.info["restarts"] <= result.iterations // 10
    # Backtracking is two-way: the final step is longer than the initial 1 / ||A||^2 estimate.
    assert result.info["L"] < 0.5 * np.linalg.norm(A, 2) ** 2


def test_trace_points() -> None:
    A, b = make_problem(80, 200, rho=0.9, seed=10)
    lam = 0.05 * lam_max(A, b)
    monitor = Monitor(trace_every=7)
    result = solve_lasso(A, b, lam, tol=1e-9, monitor=monitor)
    assert result.converged
    points = monitor.points
    iterations = [pt.iteration for pt in points]
    assert iterations[0] == 1
    assert all(later > earlier for earlier, later in zip(iterations, iterations[1:], strict=False))
    assert all(i == 1 or i % 7 == 0 for i in iterations[:-1])
    assert iterations[-1] == result.iterations  # the final iteration is always recorded
    assert points[-1].objective == pytest.approx(result.objective, rel=1e-12)
    objectives = [pt.objective for pt in points]
    # Decreasing-ish: FISTA is not monotone, but no trace point may exceed the first one and the
    # final objective is the smallest of all, up to the 1e-9 relative tolerance of the solve.
    assert max(objectives) == objectives[0]
    assert objectives[-1] <= min(objectives) * (1 + 1e-9)
    for pt in points:
        assert set(pt.measures) == {"duality_gap", "relative_gap", "step"}
        assert pt.measures["duality_gap"] >= 0.0
        assert pt.measures["step"] > 0.0
    assert points[-1].measures["relative_gap"] <= 1e-9
    assert points[0].measures["relative_gap"] > 1e-9


def test_preset_stop_flag_cancels_immediately() -> None:
    A, b = make_problem(200, 2000, rho=0.9, seed=11)
    stop = threading.Event()
    stop.set()
    monitor = Monitor(stop_flag=stop)
    started = time.perf_counter()
    result = solve_lasso(A, b, 0.01 * lam_max(A, b), tol=1e-14, monitor=monitor)
    elapsed = time.perf_counter() - started
    assert result.status is SolverStatus.CANCELLED
    assert result.iterations == 0
    assert elapsed < 1.0  # a couple of matrix-vector products, not a solve
    assert np.count_nonzero(result.solution["x"]) == 0
    assert result.objective == pytest.approx(0.5 * float(b @ b), rel=1e-12)
    assert all(math.isfinite(v) for v in result.certificate.values())
    assert [pt.iteration for pt in monitor.points] == [0]  # the final (starting) point


def test_stop_flag_set_mid_solve_cancels() -> None:
    A, b = make_problem(100, 400, rho=0.9, seed=12)
    lam = 0.01 * lam_max(A, b)
    stop = threading.Event()

    def sink(point: object) -> None:
        if getattr(point, "iteration", 0) >= 10:
            stop.set()

    result = solve_lasso(
        A, b, lam, tol=1e-14, monitor=Monitor(stop_flag=stop, trace_every=1, sink=sink)
    )
    assert result.status is SolverStatus.CANCELLED
    assert result.iterations == 10
    assert result.objective == pytest.approx(primal(A, b, lam, result.solution["x"]), rel=1e-12)


def test_tiny_time_limit() -> None:
    A, b = make_problem(300, 3000, rho=0.9, seed=13)
    lam = 0.01 * lam_max(A, b)
    result = solve_lasso(A, b, lam, tol=1e-14, monitor=Monitor(time_limit_s=1e-4))
    assert result.status is SolverStatus.TIME_LIMIT
    assert math.isfinite(result.objective)
    assert set(result.certificate) == {"duality_gap", "relative_gap", "primal", "dual"}
    assert all(math.isfinite(v) for v in result.certificate.values())
    assert result.objective == pytest.approx(primal(A, b, lam, result.solution["x"]), rel=1e-12)


def test_time_limit_after_some_iterations() -> None:
    A, b = make_problem(300, 3000, rho=0.95, seed=14)
    lam = 0.001 * lam_max(A, b)
    limit = 0.2
    started = time.perf_counter()
    result = solve_lasso(A, b, lam, tol=0.0, monitor=Monitor(time_limit_s=limit))
    elapsed = time.perf_counter() - started
    assert result.status is SolverStatus.TIME_LIMIT
    assert result.iterations > 0
    assert elapsed < limit + 0.5  # one iteration past the deadline at most (~ms here)
    x = result.solution["x"]
    assert result.objective < 0.5 * float(b @ b)  # progress from x = 0
    gap_test = primal(A, b, lam, x) - dual_by_rescaling(A, b, lam, x)
    assert result.certificate["duality_gap"] == pytest.approx(gap_test, rel=1e-6)


def test_least_squares_when_lam_is_zero() -> None:
    A, b = make_problem(100, 20, rho=0.5, seed=15)
    result = solve_lasso(A, b, 0.0, tol=1e-12)
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    assert result.status is SolverStatus.CONVERGED
    assert set(result.certificate) == {"kkt_residual", "relative_kkt_residual", "primal"}
    kkt = float(np.max(np.abs(A.T @ (A @ result.solution["x"] - b))))
    assert result.certificate["kkt_residual"] == pytest.approx(kkt, rel=1e-6, abs=1e-12)
    assert kkt <= 1e-12 * lam_max(A, b) * (1 + 1e-6)
    np.testing.assert_allclose(result.solution["x"], x_ls, rtol=0, atol=1e-8)


def test_float32_stays_float32() -> None:
    A, b = make_problem(60, 100, seed=16)
    A32, b32 = A.astype(np.float32), b.astype(np.float32)
    lam = 0.1 * lam_max(A, b)
    result = solve_lasso(A32, b32, lam, tol=1e-4)
    assert result.converged
    assert result.solution["x"].dtype == np.float32
    ref = solve_lasso(A, b, lam, tol=1e-10)
    assert result.objective == pytest.approx(ref.objective, rel=1e-4)


def test_overflow_is_reported_as_numerical_error() -> None:
    # ||A||^2 ~ 1e400 overflows: the first step cannot be evaluated in float64.
    A, b = make_problem(30, 50, seed=17)
    A = A * 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the status is the signal, not a RuntimeWarning
        result = solve_lasso(A, b, 0.1 * lam_max(A, b))
    assert result.status is SolverStatus.NUMERICAL_ERROR
    assert np.all(np.isfinite(result.solution["x"]))
    assert math.isfinite(result.objective)
    assert "non-finite" in result.message


def test_nan_in_data_is_reported_as_numerical_error() -> None:
    A, b = make_problem(30, 50, seed=18)
    b[3] = np.nan
    result = solve_lasso(A, b, 1.0)
    assert result.status is SolverStatus.NUMERICAL_ERROR
    assert result.iterations == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lam=-1.0), "lam"),
        (dict(lam=math.inf), "lam"),
        (dict(lam=1.0, tol=-1.0), "tol"),
        (dict(lam=1.0, max_iter=-1), "max_iter"),
        (dict(lam=1.0, x0=np.zeros(3)), "x0"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], match: str) -> None:
    A, b = make_problem(10, 5, seed=19)
    with pytest.raises(ValueError, match=match):
        solve_lasso(A, b, **kwargs)  # type: ignore[arg-type]


def test_invalid_shapes() -> None:
    A, b = make_problem(10, 5, seed=20)
    with pytest.raises(ValueError, match="b must"):
        solve_lasso(A, b[:-1], 1.0)
    with pytest.raises(ValueError, match="2-D"):
        solve_lasso(b, b, 1.0)
    with pytest.raises(ValueError, match="real"):
        solve_lasso(A.astype(complex), b, 1.0)
