"""Unit tests of the optimal-transport solvers (workers/solvers/ot/).

Every objective, marginal violation and gap is recomputed here from the returned plan and
potentials with the textbook formulas, and compared with POT (``ot.sinkhorn`` in the log domain,
``ot.emd``, ``ot.unbalanced.sinkhorn_unbalanced``) where POT is a reference.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import ot
import pytest
from scipy.ndimage import gaussian_filter
from scipy.special import xlogy
from threadpoolctl import threadpool_limits

from workers.solvers.backend import gpu_available
from workers.solvers.monitor import Monitor
from workers.solvers.ot import (
    exact_ot,
    sinkhorn_log,
    sinkhorn_newton_sparse,
    sinkhorn_unbalanced_log,
)
from workers.solvers.result import SolverResult, SolverStatus

Solver = Callable[..., SolverResult]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Any:
    """One BLAS thread, as a worker process runs (STYLE: thread oversubscription): on a shared
    2-core machine a 2-thread OpenBLAS gemv of a 784 x 784 plan can be 50x slower than 1."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


ENTROPIC: dict[str, Solver] = {"sinkhorn": sinkhorn_log, "sns": sinkhorn_newton_sparse}


# --- reference formulas ------------------------------------------------------------------------
def entropic_objective(P: np.ndarray, C: np.ndarray, eps: float) -> float:
    """<P, C> + eps sum P (log P - 1), with 0 log 0 = 0."""
    return float(np.sum(P * C) + eps * np.sum(xlogy(P, P) - P))


def dual_objective(
    f: np.ndarray, g: np.ndarray, C: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float
) -> float:
    """<f, a> + <g, b> - eps sum exp((f_i + g_j - C_ij) / eps) on the support of a and b."""
    sa, sb = a > 0, b > 0
    E = np.exp((f[sa][:, None] + g[sb][None, :] - C[np.ix_(sa, sb)]) / eps)
    return float(f[sa] @ a[sa] + g[sb] @ b[sb] - eps * E.sum())


def marginal_error(P: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """Generalised KL(p | q) = sum p log(p / q) - p + q."""
    return float(np.sum(xlogy(p, p / q) - p + q))


# --- instances ---------------------------------------------------------------------------------
def random_instance(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random point clouds in 2-D, squared Euclidean cost normalised to max 1, random masses."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    C = ot.dist(x, y)
    C /= C.max()
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), C


def assignment_instance(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Sinkhorn-Newton-Sparse paper's random assignment: C uniform in [0, 1], a = b = 1/n."""
    rng = np.random.default_rng(seed)
    a = np.full(n, 1.0 / n)
    return a, a.copy(), rng.random((n, n))


def densities_1d(p: int, power: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian mixtures on a grid of p points in [0, 1]; cost |x - y|^power normalised to max 1."""
    x = np.linspace(0.0, 1.0, p)

    def mixture(means: list[float], sds: list[float], weights: list[float]) -> np.ndarray:
        d = sum(
            w * np.exp(-((x - mu) ** 2) / (2 * s * s))
            for mu, s, w in zip(means, sds, weights, strict=True)
        )
        return d / d.sum()

    a = mixture([0.2, 0.6], [0.05, 0.1], [0.4, 0.6])
    b = mixture([0.4, 0.8], [0.08, 0.05], [0.5, 0.5])
    C = np.abs(x[:, None] - x[None, :]) ** power
    return a, b, C / C.max()


def images_28(metric: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two random smooth 28 x 28 images of mass 1; cost L1 or squared L2 between pixel centres,
    normalised to max 1 (n = m = 784)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28), indexing="ij"), -1).reshape(-1, 2)

    def image() -> np.ndarray:
        z = gaussian_filter(rng.standard_normal((28, 28)), 3.0)
        z = np.exp(2.0 * z / z.std())
        return (z / z.sum()).ravel()

    diff = grid[:, None, :] - grid[None, :, :]
    C = np.abs(diff).sum(-1) if metric == "l1" else (diff**2).sum(-1)
    C = C / C.max()
    return image(), image(), C.astype(np.float64)


def pot_plan(a: np.ndarray, b: np.ndarray, C: np.ndarray, eps: float) -> np.ndarray:
    """POT's log-domain Sinkhorn run to round-off (its own stopping test, on the row marginal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(
            ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-14, numItermax=200_000)
        )


def check_certificate(
    res: SolverResult, a: np.ndarray, b: np.ndarray, C: np.ndarray, eps: float
) -> None:
    """The reported certificate agrees with the one recomputed from the returned solution."""
    P, f, g = res.solution["plan"], res.solution["f"], res.solution["g"]
    assert np.all(np.isfinite(P))
    err = marginal_error(P, a, b)
    scale = float(np.abs(C).max())
    # Both are sums of the same n*m terms in another order: agreement to 1e-13.
    assert res.certificate["marginal_error_l1"] == pytest.approx(err, rel=1e-6, abs=1e-13)
    # The plan is the one the potentials define.
    sa, sb = a > 0, b > 0
    P_fg = np.exp((f[sa][:, None] + g[sb][None, :] - C[np.ix_(sa, sb)]) / eps)
    np.testing.assert_allclose(P[np.ix_(sa, sb)], P_fg, rtol=1e-9, atol=1e-15)
    primal = entropic_objective(P, C, eps)
    dual = dual_objective(f, g, C, a, b, eps)
    # primal - dual computed naively cancels two O(1) numbers: agreement to 1e-12 of the scale.
    tol_gap = 1e-12 * (scale + abs(primal))
    assert res.objective == pytest.approx(primal, rel=1e-10, abs=tol_gap)
    assert res.certificate["dual_gap"] == pytest.approx(primal - dual, abs=tol_gap)
    assert res.certificate["transport_cost"] == pytest.approx(float(np.sum(P * C)), rel=1e-10)
    assert res.solution["transport_cost"] == res.certificate["transport_cost"]


# --- agreement with POT ------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(ENTROPIC))
@pytest.mark.parametrize(
    ("n", "m", "eps", "seed"),
    [(60, 80, 0.1, 0), (100, 70, 0.05, 1), (150, 150, 0.05, 2), (40, 200, 0.08, 3)],
)
def test_entropic_objective_and_plan_match_pot(
    method: str, n: int, m: int, eps: float, seed: int
) -> None:
    a, b, C = random_instance(n, m, seed)
    res = ENTROPIC[method](a, b, C, eps, tol=1e-13)
    assert res.status is SolverStatus.CONVERGED, res.message
    assert res.certificate["marginal_error_l1"] <= 1e-13
    P_ref = pot_plan(a, b, C, eps)
    obj_ref = entropic_objective(P_ref, C, eps)
    # POT's sinkhorn2 returns <P, C> only; the entropic objective is recomputed from its plan.
    assert res.objective == pytest.approx(obj_ref, rel=1e-8)
    np.testing.assert_allclose(res.solution["plan"], P_ref, rtol=0, atol=1e-9)
    assert res.solution["transport_cost"] == pytest.approx(float(np.sum(P_ref * C)), rel=1e-8)
    check_certificate(res, a, b, C, eps)


@pytest.mark.parametrize(("n", "m", "seed"), [(50, 70, 0), (200, 150, 1), (300, 300, 2)])
def test_exact_cost_matches_emd(n: int, m: int, seed: int) -> None:
    a, b, C = random_instance(n, m, seed)
    res = exact_ot(a, b, C)
    assert res.status is SolverStatus.CONVERGED, res.message
    cost = float(ot.emd2(a, b, C))
    assert res.objective == pytest.approx(cost, rel=1e-9, abs=1e-12)
    P, u, v = res.solution["plan"], res.solution["f"], res.solution["g"]
    assert res.certificate["marginal_error_l1"] == pytest.approx(marginal_error(P, a, b), abs=1e-14)
    assert res.certificate["marginal_error_l1"] <= 1e-12
    assert res.certificate["dual_gap"] == pytest.approx(cost - (u @ a + v @ b), abs=1e-12)
    assert abs(res.certificate["dual_gap"]) <= 1e-12
    assert np.max(u[:, None] + v[None, :] - C) <= 1e-12  # dual feasible
    assert res.certificate["dual_infeasibility"] <= 1e-12


def test_exact_with_zero_masses_and_max_iter() -> None:
    a, b, C = random_instance(80, 60, 4)
    a[[0, 5]] = 0.0
    b[7] = 0.0
    a, b = a / a.sum(), b / b.sum()
    res = exact_ot(a, b, C)
    assert res.status is SolverStatus.CONVERGED
    assert res.objective == pytest.approx(float(ot.emd2(a, b, C)), rel=1e-9)
    assert np.all(res.solution["plan"][[0, 5]] == 0.0)
    capped = exact_ot(a, b, C, max_iter=5)
    assert capped.status is SolverStatus.MAX_ITER


# --- Sinkhorn-Newton-Sparse on the paper's cases -----------------------------------------------
def test_sns_random_assignment_needs_ten_times_fewer_iterations() -> None:
    """n = 500, C uniform in [0, 1], eps = 1/1200: Sinkhorn needs ~10^4 iterations."""
    a, b, C = assignment_instance()
    eps = 1.0 / 1200.0
    sns = sinkhorn_newton_sparse(a, b, C, eps, tol=1e-9)
    assert sns.status is SolverStatus.CONVERGED, sns.message
    assert sns.certificate["marginal_error_l1"] <= 1e-9
    assert sns.info["newton_iterations"] <= 15  # "a handful"
    sk = sinkhorn_log(a, b, C, eps, tol=1e-9)
    assert sk.status is SolverStatus.CONVERGED
    assert sns.iterations * 10 <= sk.iterations, (sns.iterations, sk.iterations)
    # Same problem, same answer: objectives within what a 1e-9 marginal violation allows.
    assert sns.objective == pytest.approx(sk.objective, rel=1e-8)
    check_certificate(sns, a, b, C, eps)


SNS_CASES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, float]]] = {
    "1d-W1-400": lambda: (*densities_1d(400, 1), 1e-3),
    "1d-W2-400": lambda: (*densities_1d(400, 2), 1e-3),
    "2d-clouds-400-eps3e-3": lambda: (*random_instance(400, 400, 5), 3e-3),
    "2d-clouds-400-eps1e-3": lambda: (*random_instance(400, 400, 6), 1e-3),
    "28x28-L1-eps1e-2": lambda: (*images_28("l1", 0), 1e-2),
    "28x28-L2-eps1e-2": lambda: (*images_28("l2", 1), 1e-2),
}


RATIO_FLOOR = {  # measured ratios (Sinkhorn / SNS iterations) in the comments
    "1d-W1-400": 10,  # 4540 / 136
    "1d-W2-400": 10,  # 1171 / 41
    "2d-clouds-400-eps3e-3": 10,  # 601 / 20
    "2d-clouds-400-eps1e-3": 10,  # 1698 / 30
    "28x28-L1-eps1e-2": 5,  # 832 / 46
    "28x28-L2-eps1e-2": 2,  # 127 / 38: Sinkhorn itself is fast on this instance
}


@pytest.mark.parametrize("case", sorted(SNS_CASES))
def test_sns_converges_on_paper_cases(case: str) -> None:
    a, b, C, eps = SNS_CASES[case]()
    sns = sinkhorn_newton_sparse(a, b, C, eps, tol=1e-8)
    assert sns.status is SolverStatus.CONVERGED, sns.message
    assert sns.certificate["marginal_error_l1"] <= 1e-8
    assert sns.info["newton_iterations"] >= 1
    check_certificate(sns, a, b, C, eps)
    sk = sinkhorn_log(a, b, C, eps, tol=1e-8)
    assert sk.status is SolverStatus.CONVERGED
    # Fewer iterations (Sinkhorn iterations + Newton steps) than Sinkhorn alone, by at least
    # RATIO_FLOOR (a regression guard with margin under the measured ratios).
    assert sns.iterations * RATIO_FLOOR[case] <= sk.iterations, (sns.iterations, sk.iterations)
    assert sns.objective == pytest.approx(sk.objective, rel=1e-7)


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_sns_images_small_eps(metric: str) -> None:
    a, b, C = images_28(metric, 2)
    res = sinkhorn_newton_sparse(a, b, C, 1e-3, tol=1e-8)
    assert res.status is SolverStatus.CONVERGED, res.message
    check_certificate(res, a, b, C, 1e-3)


# --- tiny epsilon: no underflow ------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(ENTROPIC))
def test_tiny_epsilon_stays_finite(method: str) -> None:
    a, b, C = random_instance(30, 40, 7)
    eps = 1e-4  # of max(C) = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P_pot = ot.sinkhorn(a, b, C, eps, method="sinkhorn", numItermax=2000)
    # POT's sinkhorn_knopp works with exp(-C / eps), which underflows here (exp(-1e4) = 0). With
    # POT 0.9.7 it warns ("overflow encountered in divide", "numerical errors at iteration
    # 1125") and returns its last finite iterate, whose L1 marginal violation is 0.09.
    assert caught
    assert not np.all(np.isfinite(P_pot)) or marginal_error(P_pot, a, b) > 1e-3
    monitor = Monitor()
    res = ENTROPIC[method](a, b, C, eps, tol=1e-9, max_iter=50_000, monitor=monitor)
    assert res.status is not SolverStatus.NUMERICAL_ERROR, res.message
    for key in ("f", "g", "plan"):
        assert np.all(np.isfinite(res.solution[key]))
    assert math.isfinite(res.objective)
    errors = [p.measures["marginal_error_l1"] for p in monitor.points]
    assert all(math.isfinite(e) for e in errors)
    assert errors[-1] < 1e-3 * errors[0]  # it makes progress
    if res.status is SolverStatus.CONVERGED:
        check_certificate(res, a, b, C, eps)
        # Close to the exact OT cost: the entropic bias is O(eps log n).
        assert res.certificate["transport_cost"] == pytest.approx(float(ot.emd2(a, b, C)), abs=1e-2)


# --- zero masses, infeasible masses, validation ---------------------------------------------------
@pytest.mark.parametrize("method", sorted(ENTROPIC))
def test_zero_masses_are_handled(method: str) -> None:
    a, b, C = random_instance(50, 60, 8)
    a[[0, 10, 11]] = 0.0
    b[[3, 59]] = 0.0
    a, b = a / a.sum(), b / b.sum()
    eps = 0.05
    res = ENTROPIC[method](a, b, C, eps, tol=1e-12)
    assert res.status is SolverStatus.CONVERGED, res.message
    f, g, P = res.solution["f"], res.solution["g"], res.solution["plan"]
    assert np.all(np.isfinite(f[a > 0])) and np.all(np.isfinite(g[b > 0]))
    assert np.all(f[a == 0] == -np.inf) and np.all(g[b == 0] == -np.inf)
    assert np.all(P[a == 0] == 0.0) and np.all(P[:, b == 0] == 0.0)
    check_certificate(res, a, b, C, eps)
    # Same as solving the problem restricted to the support.
    sa, sb = a > 0, b > 0
    sub = ENTROPIC[method](a[sa], b[sb], C[np.ix_(sa, sb)], eps, tol=1e-12)
    np.testing.assert_allclose(P[np.ix_(sa, sb)], sub.solution["plan"], atol=1e-12)
    assert res.objective == pytest.approx(sub.objective, rel=1e-10)


@pytest.mark.parametrize("solver", [sinkhorn_log, sinkhorn_newton_sparse, exact_ot])
def test_unequal_masses_are_infeasible(solver: Solver) -> None:
    a, b, C = random_instance(20, 30, 9)
    args = (a, 1.01 * b, C) if solver is exact_ot else (a, 1.01 * b, C, 0.1)
    res = solver(*args)
    assert res.status is SolverStatus.INFEASIBLE
    assert "sum(a)" in res.message and "sum(b)" in res.message
    assert res.certificate["marginal_error_l1"] == pytest.approx(0.01, rel=1e-9)


def test_masses_equal_up_to_round_off_are_accepted() -> None:
    a, b, C = random_instance(30, 30, 10)
    res = sinkhorn_log(a, b * (1 + 1e-12), C, 0.1, tol=1e-10)
    assert res.status is SolverStatus.CONVERGED


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "eps"),
        ({"eps": -1.0}, "eps"),
        ({"eps": math.nan}, "eps"),
        ({"a": -np.ones(4) / 4}, "non-negative"),
        ({"C": np.full((4, 5), np.nan)}, "finite"),
        ({"C": np.ones((5, 4))}, "shape"),
        ({"b": np.ones(4) / 4}, "shape"),
        ({"tol": -1.0}, "tol"),
        ({"g0": np.zeros(3)}, "g0"),
    ],
)
@pytest.mark.parametrize("method", sorted(ENTROPIC))
def test_invalid_input_raises(method: str, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "a": np.ones(4) / 4,
        "b": np.ones(5) / 5,
        "C": np.ones((4, 5)),
        "eps": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ENTROPIC[method](**args)


# --- monitor: cancellation, time limit, trace -----------------------------------------------------
class _StopAfter:
    """A stop flag that becomes set after ``n`` polls (deterministic cancellation)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


@pytest.mark.parametrize(("method", "polls"), [("sinkhorn", 50), ("sns", 30), ("sns", 3)])
def test_cancel_returns_best_iterate_with_certificate(method: str, polls: int) -> None:
    a, b, C = assignment_instance(200, seed=1)
    eps = 1e-3
    monitor = Monitor(stop_flag=_StopAfter(polls))
    res = ENTROPIC[method](a, b, C, eps, tol=1e-12, monitor=monitor)
    assert res.status is SolverStatus.CANCELLED
    assert "cancelled" in res.message
    assert res.certificate["marginal_error_l1"] > 1e-12
    check_certificate(res, a, b, C, eps)


def test_cancel_before_start_and_threading_event() -> None:
    a, b, C = random_instance(40, 40, 11)
    event = threading.Event()
    event.set()
    for solver in (sinkhorn_log, sinkhorn_newton_sparse):
        res = solver(a, b, C, 0.01, monitor=Monitor(stop_flag=event))
        assert res.status is SolverStatus.CANCELLED
        assert math.isfinite(res.certificate["marginal_error_l1"])
    res = exact_ot(a, b, C, monitor=Monitor(stop_flag=event))
    assert res.status is SolverStatus.CANCELLED
    assert res.certificate["marginal_error_l1"] == pytest.approx(2.0)


@pytest.mark.parametrize("method", sorted(ENTROPIC))
def test_time_limit(method: str) -> None:
    a, b, C = assignment_instance(300, seed=2)
    res = ENTROPIC[method](a, b, C, 1e-4, tol=0.0, monitor=Monitor(time_limit_s=0.2))
    assert res.status is SolverStatus.TIME_LIMIT, res.message
    assert 0.0 < res.certificate["marginal_error_l1"] < 2.0
    check_certificate(res, a, b, C, 1e-4)


def test_max_iter_returns_best_iterate() -> None:
    a, b, C = assignment_instance(100, seed=3)
    for solver in (sinkhorn_log, sinkhorn_newton_sparse):
        res = solver(a, b, C, 1e-3, tol=1e-14, max_iter=20)
        assert res.status is SolverStatus.MAX_ITER
        assert res.iterations == 20
        check_certificate(res, a, b, C, 1e-3)


def test_trace_points_have_stage_and_marginal_error() -> None:
    a, b, C = assignment_instance(300, seed=4)
    eps = 1.0 / 1200.0
    monitor = Monitor()
    res = sinkhorn_newton_sparse(a, b, C, eps, tol=1e-9, monitor=monitor)
    assert res.converged
    points = monitor.points
    numeric = [v for p in points for k, v in p.measures.items() if k != "stage"]
    assert points and all(isinstance(v, float) for v in numeric)
    assert all({"stage", "marginal_error_l1", "dual_objective"} <= set(p.measures) for p in points)
    stages = {p.measures["stage"] for p in points}
    assert stages == {"sinkhorn", "newton"}
    newton = [
        p for p in points if p.measures["stage"] == "newton" and "cg_iterations" in p.measures
    ]
    assert len(newton) >= 1 and all(p.measures["cg_iterations"] >= 1 for p in newton)
    assert points[-1].iteration == res.iterations
    assert points[-1].measures["marginal_error_l1"] == res.certificate["marginal_error_l1"]
    # The dual objective is the maximised Lyapunov potential: it never decreases by more than
    # round-off along the Newton phase (line search on it), and ends at the returned dual.
    duals = [p.measures["dual_objective"] for p in points if p.measures["stage"] == "newton"]
    assert all(d2 >= d1 - 1e-12 for d1, d2 in zip(duals, duals[1:], strict=False))
    assert points[-1].objective == pytest.approx(res.certificate["dual_objective"], abs=1e-12)


def test_sinkhorn_trace_and_dual_monotone() -> None:
    a, b, C = random_instance(80, 90, 12)
    monitor = Monitor(trace_every=5)
    res = sinkhorn_log(a, b, C, 0.01, tol=1e-10, monitor=monitor)
    assert res.converged
    duals = [p.measures["dual_objective"] for p in monitor.points[:-1]]
    # Sinkhorn is exact block ascent on the dual: monotone up to round-off.
    assert all(d2 >= d1 - 1e-13 for d1, d2 in zip(duals, duals[1:], strict=False))
    assert all(p.measures["stage"] == "sinkhorn" for p in monitor.points)


# --- warm starts, epsilon scaling, inputs untouched -----------------------------------------------
def test_eps_scaling_and_warm_start() -> None:
    a, b, C = random_instance(120, 100, 13)
    eps = 2e-3
    plain = sinkhorn_log(a, b, C, eps, tol=1e-10)
    scaled = sinkhorn_log(a, b, C, eps, tol=1e-10, eps_scaling=True, monitor=Monitor())
    assert plain.converged and scaled.converged
    # Both meet a 1e-10 marginal violation: their objectives differ by at most about
    # (osc f + osc g) * 1e-10, osc <= max(C) = 1.
    assert scaled.objective == pytest.approx(plain.objective, abs=1e-9)
    np.testing.assert_allclose(scaled.solution["plan"], plain.solution["plan"], atol=1e-10)
    warm = sinkhorn_log(a, b, C, eps, tol=1e-10, f0=plain.solution["f"], g0=plain.solution["g"])
    assert warm.converged and warm.iterations <= 2
    warm_sns = sinkhorn_newton_sparse(
        a, b, C, eps, tol=1e-10, f0=plain.solution["f"], g0=plain.solution["g"]
    )
    assert warm_sns.converged and warm_sns.iterations <= 2


def test_inputs_are_not_mutated() -> None:
    a, b, C = random_instance(60, 50, 14)
    a[3] = 0.0
    a /= a.sum()
    f0, g0 = np.zeros(60), np.linspace(0, 0.1, 50)
    originals = [x.copy() for x in (a, b, C, f0, g0)]
    C_f = np.asfortranarray(C)
    sinkhorn_log(a, b, C_f, 0.01, f0=f0, g0=g0, eps_scaling=True)
    sinkhorn_newton_sparse(a, b, C, 1e-3, f0=f0, g0=g0)
    sinkhorn_unbalanced_log(a, b, C, 0.05, 1.0, 1.0, f0=f0, g0=g0)
    exact_ot(a, b, C)
    for x, x0 in zip((a, b, C, f0, g0), originals, strict=True):
        np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(C_f, originals[2])


def test_float32_and_integer_inputs_are_promoted() -> None:
    a, b, C = random_instance(30, 30, 15)
    ref = sinkhorn_log(a, b, C, 0.05, tol=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    # float32 sums differ by ~1e-8 relative, beyond the 1e-9 mass tolerance: INFEASIBLE ...
    assert sinkhorn_log(a32, b32, C, 0.05).status is SolverStatus.INFEASIBLE
    # ... unless normalised in float64.
    a64, b64 = a32 / a32.sum(dtype=np.float64), b32 / b32.sum(dtype=np.float64)
    res = sinkhorn_newton_sparse(a64, b64, C.astype(np.float32), 0.05, tol=1e-12)
    assert res.converged and res.solution["plan"].dtype == np.float64
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)
    ints = sinkhorn_log(np.array([1, 1]), np.array([1, 1]), np.array([[0, 1], [1, 0]]), 0.5)
    assert ints.converged and ints.solution["plan"].sum() == pytest.approx(2.0)


# --- unbalanced -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reg_type", ["entropy", "kl"])
@pytest.mark.parametrize("tau", [(1.0, 1.0), (0.3, 3.0), (math.inf, 0.5)])
def test_unbalanced_matches_pot(reg_type: str, tau: tuple[float, float]) -> None:
    rng = np.random.default_rng(16)
    n, m = 40, 50
    C = ot.dist(rng.random((n, 2)), rng.random((m, 2)))
    C /= C.max()
    a = rng.random(n) + 0.1
    a /= a.sum()
    b = 1.5 * (rng.random(m) + 0.1)
    b /= b.sum() / 1.5  # mass 1.5: unbalanced
    eps = 0.05
    res = sinkhorn_unbalanced_log(a, b, C, eps, tau[0], tau[1], reg_type=reg_type, tol=1e-13)
    assert res.status is SolverStatus.CONVERGED, res.message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P_ref, log = ot.unbalanced.sinkhorn_unbalanced(
            a,
            b,
            C,
            eps,
            tau,
            method="sinkhorn_stabilized",
            reg_type=reg_type,
            stopThr=1e-15,
            numItermax=100_000,
            log=True,
        )
    P = res.solution["plan"]
    np.testing.assert_allclose(P, P_ref, rtol=0, atol=1e-10)
    # The objective, recomputed from POT's plan with the generalised KL.
    ref = np.ones_like(P_ref) if reg_type == "entropy" else a[:, None] * b[None, :]
    r, c, mass = P_ref.sum(1), P_ref.sum(0), P_ref.sum()
    obj = float(np.sum(P_ref * C)) + eps * kl(P_ref, ref)
    obj -= eps * ref.sum() if reg_type == "entropy" else 0.0  # sum P(log P - 1) = KL(P|1) - nm
    obj += (tau[0] * kl(r, a) if math.isfinite(tau[0]) else 0.0) + tau[1] * kl(c, b)
    assert res.objective == pytest.approx(obj, rel=1e-9)
    # POT's total_cost leaves out the KL mass terms; with them added back it is our objective.
    mass_terms = eps * (ref.sum() - mass) + tau[1] * (b.sum() - mass)
    if math.isfinite(tau[0]):
        mass_terms += tau[0] * (a.sum() - mass)
    if reg_type == "entropy":
        mass_terms -= eps * ref.sum()
    assert res.objective == pytest.approx(float(log["total_cost"]) + mass_terms, rel=1e-9)
    # Certificate: stationarity residual and dual gap, recomputed.
    f, g = res.solution["f"], res.solution["g"]
    Cw = C - eps * np.log(ref)
    np.testing.assert_allclose(P, np.exp((f[:, None] + g[None, :] - Cw) / eps), rtol=1e-10)
    ea = np.ones(n) if math.isinf(tau[0]) else np.exp(-f / tau[0])
    resid = np.abs(P.sum(1) - a * ea).sum() + np.abs(P.sum(0) - b * np.exp(-g / tau[1])).sum()
    assert res.certificate["stationarity_residual_l1"] == pytest.approx(resid, abs=1e-13)
    assert res.certificate["stationarity_residual_l1"] <= 1e-13
    assert abs(res.certificate["dual_gap"]) <= 1e-10
    assert res.certificate["plan_mass"] == pytest.approx(mass, rel=1e-10)


def test_unbalanced_with_infinite_taus_is_balanced() -> None:
    a, b, C = random_instance(30, 40, 17)
    bal = sinkhorn_log(a, b, C, 0.05, tol=1e-12)
    unb = sinkhorn_unbalanced_log(a, b, C, 0.05, math.inf, math.inf, tol=1e-12)
    assert unb.converged
    assert unb.objective == pytest.approx(bal.objective, rel=1e-10)


# --- GPU (skipped without cupy and a CUDA device) -------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")
@pytest.mark.parametrize("method", sorted(ENTROPIC))
def test_cupy_matches_numpy(method: str) -> None:
    import cupy

    a, b, C = random_instance(200, 150, 18)
    cpu = ENTROPIC[method](a, b, C, 5e-3, tol=1e-9)
    gpu = ENTROPIC[method](cupy.asarray(a), cupy.asarray(b), cupy.asarray(C), 5e-3, tol=1e-9)
    assert cpu.converged and gpu.converged
    assert type(gpu.solution["plan"]).__module__.startswith("cupy")
    assert gpu.objective == pytest.approx(cpu.objective, rel=1e-8)
    np.testing.assert_allclose(gpu.solution["plan"].get(), cpu.solution["plan"], atol=1e-9)
