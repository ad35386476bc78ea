"""``bayesopt_benchmark``: a whole study on a built-in test function, run inside one job."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from schemas.problems import BayesoptBenchmarkProblem
from workers.solvers.bayesopt.benchmark import run_bayesopt_benchmark
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult


def bayesopt_benchmark(
    spec: BayesoptBenchmarkProblem, options: dict[str, Any], monitor: Monitor, xp: ModuleType
) -> SolverResult:
    return run_bayesopt_benchmark(
        spec.function,
        dim=spec.dim,
        noise_sd=spec.noise_sd,
        budget=spec.budget,
        batch_size=spec.batch_size,
        seed=spec.seed,
        shift=spec.shift,
        tol=options["tol"],
        monitor=monitor,
    )
