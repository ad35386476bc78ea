"""``bayesopt_benchmark``: a whole Bayesian-optimization study run on a built-in test function."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.errors import spec_error
from schemas.options import KindDefaults
from schemas.problems.base import ProblemSpec

#: Functions with a fixed dimension; the others take any ``dim`` in [MIN_DIM, MAX_DIM].
FIXED_DIM = {"branin": 2, "hartmann6": 6}
#: Levy and Rosenbrock couple neighbouring coordinates, so they need two.
MIN_DIM = {"levy": 2, "rosenbrock": 2}
MAX_DIM = 50


class BayesoptBenchmarkProblem(ProblemSpec):
    """Minimise a built-in test function with the study engine; the trace is the best value."""

    summary: ClassVar[str] = (
        "Bayesian optimization of a built-in test function (GP + LogEI); certified by the simple "
        "regret against the known optimum"
    )
    # tol: the simple regret at which the run counts as converged (the optimum is known).
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-2, max_iter=1_000, trace_every=1)

    kind: Literal["bayesopt_benchmark"]
    function: Literal["branin", "hartmann6", "ackley", "levy", "rosenbrock", "styblinski_tang"]
    dim: int | None = Field(default=None, ge=1, le=MAX_DIM, description="Default: the function's.")
    noise_sd: float = Field(default=0.0, ge=0, description="Gaussian noise added to each value.")
    budget: int = Field(default=30, ge=1, le=500, description="Evaluations in all.")
    batch_size: int = Field(default=1, ge=1, le=32, description="Suggestions per round.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    shift: float = Field(
        default=0.0, ge=0, le=0.5, description="Move the optimum by this fraction of the range."
    )

    @model_validator(mode="after")
    def _dim(self) -> BayesoptBenchmarkProblem:
        fixed = FIXED_DIM.get(self.function)
        if fixed is not None and self.dim not in (None, fixed):
            raise spec_error(("dim",), f"{self.function} is {fixed}-dimensional")
        least = MIN_DIM.get(self.function, 1)
        if self.dim is not None and self.dim < least:
            raise spec_error(("dim",), f"{self.function} needs dim >= {least}")
        if self.batch_size > self.budget:
            raise spec_error(("batch_size",), "batch_size exceeds the budget")
        return self
