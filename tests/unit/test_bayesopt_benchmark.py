"""Test problems (values, shifts, optima) and the benchmark driver, including the acceptance
test: seeded, shifted Branin to regret < 1e-2 in 30 evaluations."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from scipy.optimize import minimize

from workers.solvers.bayesopt.benchmark import run_bayesopt_benchmark
from workers.solvers.bayesopt.functions import TEST_FUNCTIONS, make_test_problem
from workers.solvers.monitor import Monitor, TracePoint
from workers.solvers.result import SolverStatus


def test_known_values() -> None:
    branin = make_test_problem("branin")
    for m in ([-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475]):
        assert branin(np.array(m)) == pytest.approx(0.397887357729738, abs=1e-5)
    # (0 - 0 + 0 - 6)^2 + 10 (1 - 1/(8 pi)) cos 0 + 10 = 56 - 5/(4 pi)
    assert branin(np.array([0.0, 0.0])) == pytest.approx(56.0 - 5.0 / (4.0 * math.pi), rel=1e-14)
    h6 = make_test_problem("hartmann6")
    assert h6(h6.minimizer) == pytest.approx(-3.32237, abs=1e-5)
    st = make_test_problem("styblinski_tang", 3)
    assert st(np.full(3, -2.903534)) == pytest.approx(-39.16617 * 3, abs=1e-4)
    for name in ("ackley", "levy", "rosenbrock"):
        p = make_test_problem(name, 4)
        assert p(p.minimizer) == pytest.approx(0.0, abs=1e-12) and p.optimum == 0.0
    assert make_test_problem("ackley").dim == 10


def test_functions_match_botorch() -> None:
    """BoTorch's synthetic test functions are an independent implementation."""
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("botorch.test_functions")
    refs = {
        "branin": tf.Branin(),
        "hartmann6": tf.Hartmann(dim=6),
        "ackley": tf.Ackley(dim=5),
        "levy": tf.Levy(dim=5),
        "rosenbrock": tf.Rosenbrock(dim=5),
        "styblinski_tang": tf.StyblinskiTang(dim=5),
    }
    rng = np.random.default_rng(0)
    for name, ref in refs.items():
        p = make_test_problem(name, None if name in ("branin", "hartmann6") else 5)
        X = p.bounds[:, 0] + rng.random((20, p.dim)) * (p.bounds[:, 1] - p.bounds[:, 0])
        expected = ref.evaluate_true(torch.tensor(X, dtype=torch.float64)).numpy()
        # BoTorch keeps some constants (Hartmann's) in float32: agreement to ~1e-7 relative
        np.testing.assert_allclose([p(x) for x in X], expected, rtol=1e-6, atol=1e-9)
        assert p.optimum == pytest.approx(ref.optimal_value, abs=1e-4)


@pytest.mark.parametrize("name", TEST_FUNCTIONS)
def test_shift_translates_and_keeps_a_minimiser_inside(name: str) -> None:
    base = make_test_problem(name)
    for seed in range(5):
        p = make_test_problem(name, shift=0.15, seed=seed)
        width = p.bounds[:, 1] - p.bounds[:, 0]
        np.testing.assert_allclose(np.abs(p.shift_vector), 0.15 * width)
        np.testing.assert_array_equal(p.bounds, base.bounds)
        assert np.all((p.minimizer >= p.bounds[:, 0]) & (p.minimizer <= p.bounds[:, 1]))
        assert p(p.minimizer) == pytest.approx(p.optimum, abs=1e-5)
        x = p.bounds[:, 0] + 0.37 * width
        assert p(x) == pytest.approx(base(x - p.shift_vector))


def test_shifted_hartmann6_optimum_is_global() -> None:
    """Local searches from 60 random starts never go below the stated optimum (which holds on
    R^6, so on every shifted domain)."""
    p = make_test_problem("hartmann6", shift=0.2, seed=1)
    rng = np.random.default_rng(0)
    lowest = min(
        minimize(p, rng.random(6), method="L-BFGS-B", bounds=p.bounds).fun for _ in range(60)
    )
    assert lowest >= p.optimum - 1e-9
    assert lowest == pytest.approx(p.optimum, abs=1e-6)  # and the optimum is reached


def test_problem_errors() -> None:
    with pytest.raises(ValueError, match="unknown test function"):
        make_test_problem("sphere")
    with pytest.raises(ValueError, match="two-dimensional"):
        make_test_problem("branin", 3)
    with pytest.raises(ValueError, match="shift"):
        make_test_problem("levy", 2, shift=1.0)
    with pytest.raises(ValueError, match="every known minimiser"):
        make_test_problem("ackley", 2, shift=0.6)
    with pytest.raises(ValueError, match="shape"):
        make_test_problem("levy", 3)(np.zeros(2))


def test_branin_reaches_regret_1e_2_in_30_evaluations() -> None:
    """The acceptance test: shifted Branin, seed 0, 30 evaluations, regret recomputed here."""
    monitor = Monitor()
    result = run_bayesopt_benchmark(
        "branin", budget=30, seed=0, shift=0.1, tol=1e-2, monitor=monitor
    )
    problem = make_test_problem("branin", shift=0.1, seed=0)
    best = np.array(result.solution["best_params"])
    regret = problem(best) - problem.optimum
    assert regret == pytest.approx(result.certificate["simple_regret"], abs=1e-12)
    assert 0.0 <= regret < 1e-2
    assert result.status is SolverStatus.CONVERGED and result.iterations == 30
    values = result.solution["values"]
    assert len(values) == 30 and values.min() == pytest.approx(problem(best))
    # the trace: one point per evaluation, regret of the best so far never increases
    regrets = [float(pt.measures["simple_regret"]) for pt in monitor.points]
    assert [pt.iteration for pt in monitor.points] == list(range(1, 31))
    assert all(b <= a for a, b in zip(regrets, regrets[1:], strict=False))
    assert regrets[-1] == pytest.approx(regret)
    assert {"initial_design", "model"} <= {pt.measures["phase"] for pt in monitor.points}
    assert result.certificate["evaluations"] == 30.0
    assert "simple regret" in result.message


def test_budget_spent_without_convergence_is_max_iter() -> None:
    result = run_bayesopt_benchmark("hartmann6", budget=6, seed=0, shift=0.1, tol=1e-6)
    assert result.status is SolverStatus.MAX_ITER
    assert result.certificate["simple_regret"] > 1e-6 and result.iterations == 6


def test_cancellation_between_batches() -> None:
    flag = threading.Event()
    seen: list[TracePoint] = []

    def sink(point: TracePoint) -> None:
        seen.append(point)
        if point.iteration >= 4:
            flag.set()

    monitor = Monitor(sink=sink, stop_flag=flag)
    result = run_bayesopt_benchmark("branin", budget=30, batch_size=2, seed=0, monitor=monitor)
    assert result.status is SolverStatus.CANCELLED
    assert result.iterations == 4 and len(seen) == 4


def test_noisy_benchmark_reports_the_recommendation() -> None:
    result = run_bayesopt_benchmark(
        "branin", budget=10, seed=1, shift=0.1, noise_sd=2.0, batch_size=3, tol=1e-2
    )
    problem = make_test_problem("branin", shift=0.1, seed=1)
    true = result.solution["true_values"]
    assert len(true) == 10
    observed = result.solution["values"]
    assert not np.allclose(observed, true)  # noise was added
    best = np.array(result.solution["best_params"])
    assert result.certificate["best_value"] == pytest.approx(problem(best))
    assert result.certificate["simple_regret"] == pytest.approx(problem(best) - problem.optimum)
