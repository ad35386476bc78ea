"""Study resources (ask/tell Bayesian optimization): bodies the API reads and what it returns."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.errors import spec_error
from workers.solvers.bayesopt.space import same_choice  # the engine's equality of choices

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Direction = Literal["minimize", "maximize"]
Noise = Literal["none", "unknown", "known"]
StudyState = Literal["active", "archived"]
TrialState = Literal["pending", "complete", "failed", "expired"]
Choice = str | int | float | bool

MAX_PARAMS = 50
MAX_CHOICES = 256
MAX_SUGGESTIONS = 64
MAX_PENDING_TIMEOUT_S = 30 * 24 * 3600.0
#: Largest bound magnitudes. Floats: ``high - low`` must stay finite when the space is mapped to
#: the unit cube. Ints: beyond 2**53 a float skips integers, so the values could not be held.
MAX_BOUND = {"float": 1e300, "int": float(2**53)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ParamSpec(_Strict):
    """One dimension of the search space."""

    name: Name
    type: Literal["float", "int", "categorical"]
    low: float | None = Field(default=None, description="Lower bound (float and int).")
    high: float | None = Field(default=None, description="Upper bound, inclusive.")
    log: bool = Field(default=False, description="Search on a log scale (needs low > 0).")
    choices: list[Choice] | None = Field(
        default=None, max_length=MAX_CHOICES, description="The values of a categorical."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise spec_error(("choices",), "a categorical needs choices", "choices_required")
            for i, c in enumerate(self.choices):
                if any(same_choice(c, d) for d in self.choices[:i]):
                    raise spec_error(("choices", i), "choices must be distinct", "duplicate_choice")
            if self.low is not None or self.high is not None or self.log:
                raise spec_error(
                    ("low",), "low, high and log are for numeric params", "not_for_categorical"
                )
            return self
        if self.choices is not None:
            raise spec_error(("choices",), "choices are for categoricals", "numeric_choices")
        if self.low is None or self.high is None:
            loc = "low" if self.low is None else "high"
            raise spec_error((loc,), f"a {self.type} param needs low and high", "bound_required")
        if not self.low < self.high:
            raise spec_error(("high",), "high must be greater than low", "empty_range")
        largest = MAX_BOUND[self.type]
        for loc, bound in (("low", self.low), ("high", self.high)):
            if abs(bound) > largest:
                raise spec_error((loc,), f"bounds must lie within +-{largest:g}", "bound_too_large")
        if self.type == "int" and (self.low != math.floor(self.low) or self.high != int(self.high)):
            raise spec_error(("low",), "an int param needs integer bounds", "int_bounds")
        if self.log and self.low <= 0:
            raise spec_error(("low",), "a log-scale param needs low > 0", "log_nonpositive")
        return self


class ConstraintSpec(_Strict):
    """An outcome constraint the user reports with each observation: feasible iff value <= upper."""

    name: Name
    upper: float = 0.0


class PriorSpec(_Strict):
    """Belief about where the optimum lies along one numeric param (natural units)."""

    mean: float
    sd: float = Field(gt=0)


class InitialDesign(_Strict):
    size: int = Field(ge=1, le=1000, description="Points drawn before the model takes over.")
    kind: Literal["sobol"] = "sobol"


class StudyCreate(_Strict):
    """Body of ``POST /v1/studies``."""

    name: str = Field(min_length=1, max_length=200)
    direction: Direction = "minimize"
    space: list[ParamSpec] = Field(min_length=1, max_length=MAX_PARAMS)
    constraints: list[ConstraintSpec] = Field(default_factory=list, max_length=20)
    noise: Noise = "none"
    prior: dict[str, PriorSpec] = Field(default_factory=dict)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Random if omitted.")
    initial_design: InitialDesign | None = None
    acquisition: Literal["logei", "ucb", "config"] = Field(
        default="logei",
        description="LogEI (noisy LogEI for noisy studies), UCB, or CONFIG for constraints.",
    )
    pending_timeout_s: float | None = Field(
        default=None,
        strict=True,  # a number of seconds: true or "60" is refused, not read as 1 or 60
        gt=0,
        le=MAX_PENDING_TIMEOUT_S,
        description="A trial still pending this many seconds after it was handed out (a client "
        "that crashed) is marked `expired` at the next ask, and no longer steers suggestions "
        "away from its point. A later observation still completes it. Default: never.",
    )

    @model_validator(mode="after")
    def _names(self) -> StudyCreate:
        seen: set[str] = set()
        for i, param in enumerate(self.space):
            if param.name in seen:
                raise spec_error(("space", i, "name"), "param names repeat", "duplicate_name")
            seen.add(param.name)
        names: set[str] = set()
        for i, con in enumerate(self.constraints):
            if con.name in names:
                raise spec_error(("constraints", i, "name"), "names repeat", "duplicate_name")
            names.add(con.name)
        by_name = {p.name: p for p in self.space}
        for name, prior in self.prior.items():
            found = by_name.get(name)
            if found is None:
                raise spec_error(("prior", name), "no param of this name", "unknown_param")
            param = found
            if param.type == "categorical":
                raise spec_error(("prior", name), "priors are numeric", "categorical_prior")
            assert param.low is not None and param.high is not None
            if not param.low <= prior.mean <= param.high:
                raise spec_error(
                    ("prior", name, "mean"), "mean outside [low, high]", "out_of_range"
                )
        return self


class SuggestionRequest(_Strict):
    """Body of ``POST /v1/studies/{id}/suggestions``."""

    count: int = Field(default=1, ge=1, le=MAX_SUGGESTIONS)


class ObservationIn(_Strict):
    """Body of ``POST /v1/studies/{id}/trials/{trial_id}/observation``."""

    value: float
    constraints: dict[str, float] = Field(default_factory=dict)
    noise_sd: float | None = Field(default=None, ge=0)


class TrialCreate(_Strict):
    """Body of ``POST /v1/studies/{id}/trials``: a point the user chose (evaluated or not yet)."""

    params: dict[str, Any]
    value: float | None = None
    constraints: dict[str, float] = Field(default_factory=dict)
    noise_sd: float | None = Field(default=None, ge=0)


class TrialResource(BaseModel):
    id: str
    study_id: str
    number: int
    params: dict[str, Any]
    state: TrialState
    source: Literal["suggested", "user"]
    value: float | None
    constraints: dict[str, float]
    noise_sd: float | None
    feasible: bool | None
    created_at: datetime
    completed_at: datetime | None


class TrialPage(BaseModel):
    items: list[TrialResource]
    next_cursor: str | None


class BestTrial(BaseModel):
    """The incumbent: best feasible observation, or for noisy studies the recommended point."""

    trial_id: str
    number: int
    params: dict[str, Any]
    value: float
    predicted_mean: float | None = Field(
        default=None, description="Posterior mean at the point (noisy studies)."
    )
    based_on: Literal["observed_value", "posterior_mean"]


class TracePoint(BaseModel):
    """Best value after ``trials`` finished trials (the regret-style trace)."""

    trials: int
    best_value: float | None


class StudyCounts(BaseModel):
    pending: int
    complete: int
    failed: int
    expired: int
    total: int


class StudyResource(BaseModel):
    id: str
    name: str
    state: StudyState
    direction: Direction
    space: list[ParamSpec]
    constraints: list[ConstraintSpec]
    noise: Noise
    prior: dict[str, PriorSpec]
    seed: int
    initial_design: InitialDesign | None
    acquisition: str
    pending_timeout_s: float | None = None
    counts: StudyCounts
    best: BestTrial | None
    trace: list[TracePoint]
    created_at: datetime
    updated_at: datetime


class SuggestionsOut(BaseModel):
    trials: list[TrialResource]
