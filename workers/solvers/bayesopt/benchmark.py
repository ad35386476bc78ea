r"""A whole Bayesian-optimisation study against a synthetic test problem.

The loop is the service's, compressed into one process: :func:`suggest` proposes a batch, the test
function evaluates it (plus Gaussian noise of standard deviation ``noise_sd`` when asked), the
observations are appended, and so on until the budget is spent. Because the optimum is known,
the result is judged honestly by the *simple regret*

.. math::

    r = f(x_{\rm rec}) - f^*,

the noise-free value at the recommended point (:func:`recommend`: the best observed point when
noise-free, the observed point of best posterior mean when noisy) minus the global minimum.
"""

from __future__ import annotations

import math
import time

import numpy as np

from workers.solvers.bayesopt.acquisition import AcquisitionKind
from workers.solvers.bayesopt.functions import make_test_problem
from workers.solvers.bayesopt.space import Param
from workers.solvers.bayesopt.suggest import Observation, StudyConfig, recommend, suggest
from workers.solvers.monitor import Monitor, stop_reason
from workers.solvers.result import SolverResult, SolverStatus, stop_message

__all__ = ["run_bayesopt_benchmark"]


def run_bayesopt_benchmark(
    function: str,
    *,
    dim: int | None = None,
    noise_sd: float = 0.0,
    budget: int,
    batch_size: int = 1,
    seed: int = 0,
    shift: float = 0.0,
    tol: float = 1e-2,
    monitor: Monitor | None = None,
    acquisition: AcquisitionKind = "logei",
    initial_design_size: int | None = None,
) -> SolverResult:
    """Run a study of ``budget`` evaluations of test function ``function`` and certify it.

    Parameters
    ----------
    function, dim, shift, seed
        The problem, as :func:`~workers.solvers.bayesopt.functions.make_test_problem` builds it
        (``seed`` also seeds the study and the noise).
    noise_sd
        Standard deviation of the Gaussian noise added to every evaluation; when positive the
        study runs with ``noise="unknown"`` (the level is inferred, as a user would have it).
    budget
        Number of evaluations.
    batch_size
        Points requested per :func:`suggest` call (the last batch may be smaller).
    tol
        ``CONVERGED`` iff the final simple regret is ``<= tol``.
    monitor
        Checked between batches (cancellation, time limit); receives one trace point per
        evaluation: ``record(n_evals, best observed value so far, simple_regret=..,
        phase=..)``, where the regret is that of the best point so far (noise-free) or of the
        recommendation after the evaluation's batch (noisy), and the phase is
        ``"initial_design"``, ``"model"`` or ``"explore"`` (an escape step).

    Returns
    -------
    SolverResult
        ``objective`` and ``certificate["best_value"]``: the noise-free value at the recommended
        point; ``certificate = {"simple_regret", "best_value", "optimum", "evaluations"}``;
        ``solution = {"best_params": list, "best_value", "values": all observed values,
        "true_values": their noise-free values}``; ``info`` has the suggestion latencies. The
        whole budget is always spent unless the monitor stops the run: the regret is not known
        to the optimiser, so it cannot stop on it.
    """
    started = time.perf_counter()
    if budget < 1 or batch_size < 1:
        raise ValueError("budget and batch_size must be >= 1")
    if not (math.isfinite(noise_sd) and noise_sd >= 0.0):
        raise ValueError(f"noise_sd must be finite and >= 0, got {noise_sd}")
    problem = make_test_problem(function, dim, shift=shift, seed=seed)
    names = [f"x{i}" for i in range(problem.dim)]
    params = tuple(
        Param(n, "float", float(lo), float(hi))
        for n, (lo, hi) in zip(names, problem.bounds, strict=True)
    )
    config = StudyConfig(
        params,
        noise="none" if noise_sd == 0.0 else "unknown",
        seed=seed,
        acquisition=acquisition,
        initial_design_size=initial_design_size,
    )
    noise_rng = np.random.default_rng([seed, 1])
    observations: list[Observation] = []
    true_values: list[float] = []
    latencies: list[float] = []
    fit_times: list[float] = []
    best_observed = math.inf
    best_true = math.inf
    k = 0
    while True:
        status = stop_reason(monitor, k, budget)
        if status is not None:
            break
        t0 = time.perf_counter()
        batch = suggest(config, observations, [], min(batch_size, budget - k))
        latencies.append(time.perf_counter() - t0)
        fit_times.append(float(batch.info.get("fit_time_s", 0.0)))
        first = k
        for point in batch.params:
            x = np.array([point[n] for n in names])
            f = problem(x)
            value = f + noise_sd * float(noise_rng.standard_normal()) if noise_sd else f
            observations.append(Observation(point, value))
            true_values.append(f)
            k += 1
        # per point: "initial_design", "model", or "explore" for a model step that escaped a
        # converged basin (see workers.solvers.bayesopt.suggest)
        phases = list(batch.info["phases"])
        escapes = iter(batch.info.get("explore", []))
        phases = ["explore" if ph == "model" and next(escapes) else ph for ph in phases]
        regret_after = math.nan
        if noise_sd:
            rec = recommend(config, observations)
            assert rec is not None
            regret_after = true_values[rec.index] - problem.optimum
        for j in range(first, k):
            best_observed = min(best_observed, observations[j].value)
            best_true = min(best_true, true_values[j])
            regret = regret_after if noise_sd else best_true - problem.optimum
            if monitor is not None:
                monitor.record(j + 1, best_observed, simple_regret=regret, phase=phases[j - first])

    rec = recommend(config, observations) if observations else None
    if rec is None:
        regret, best_value, best_params = math.inf, math.inf, [math.nan] * problem.dim
    else:
        best_value = true_values[rec.index]
        regret = best_value - problem.optimum
        best_params = [float(rec.params[n]) for n in names]
    if regret <= tol:
        status = SolverStatus.CONVERGED
    message = stop_message(
        status,
        measure="simple regret",
        value=regret,
        tol=tol,
        iterations=k,
        max_iter=budget,
        returned="the recommended point",
    )
    lat = np.array(latencies) if latencies else np.zeros(1)
    return SolverResult(
        status=status,
        objective=best_value,
        iterations=k,
        solve_time_s=time.perf_counter() - started,
        certificate={
            "simple_regret": float(regret),
            "best_value": float(best_value),
            "optimum": float(problem.optimum),
            "evaluations": float(k),
        },
        solution={
            "best_params": best_params,
            "best_value": float(best_value),
            "values": np.array([o.value for o in observations]),
            "true_values": np.array(true_values),
        },
        message=message,
        info={
            "function": function,
            "dim": problem.dim,
            "shift_vector": [float(v) for v in problem.shift_vector],
            "suggest_latency_s": [float(v) for v in latencies],
            "suggest_latency_p50_s": float(np.percentile(lat, 50)),
            "suggest_latency_p95_s": float(np.percentile(lat, 95)),
            "fit_time_s": fit_times,
            "recommended_index": -1 if rec is None else rec.index,
        },
    )
