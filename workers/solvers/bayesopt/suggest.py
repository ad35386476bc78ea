r"""The stateless entry points of a Bayesian-optimisation study: :func:`suggest` and
:func:`recommend`.

The service keeps the study's state (its configuration, the completed observations, the pending
and the failed trials) and calls :func:`suggest` for the next ``q`` points; the user evaluates
them and reports back. Nothing is cached between calls: every call refits the models, so the
result depends only on its arguments.

**Phases.** The first ``initial_design_size`` trials handed out (counting observed, pending and
failed ones) come from one scrambled Sobol sequence seeded by ``config.seed`` (Owen scrambling,
``scipy.stats.qmc.Sobol``), taken in order from the index equal to the number of trials already
handed out; a point whose key is already taken (possible in integer or categorical spaces) is
skipped for the next index. Numeric parameters with a prior are spread by the inverse CDF of
the prior normal truncated to the parameter's range, so the design concentrates where the user
believes the optimum lies. The default size is ``min(max(5, d + 1), 10)`` for ``d`` parameters:
5 for Branin, 7 for Hartmann6, 10 from nine parameters up. Later trials come from the model
(at least two completed observations are needed; until then the Sobol sequence continues).

**Model.** Inputs are encoded to the unit cube (:mod:`.space`), values negated for
maximisation and standardised, and a GP with an ARD Matern-5/2 (or RBF) kernel and the
dimension-scaled lengthscale prior is fitted by MAP (:mod:`.gp`). Noise ``"none"``: fixed
variance ``1e-6`` (standardised units, i.e. jitter); ``"unknown"``: inferred under a
LogNormal prior; ``"known"``: each observation's ``noise_sd``, in the objective's units. Each
constraint gets its own GP (noise fixed at ``1e-6`` for ``"none"``, inferred otherwise).

**Acquisition** (:mod:`.acquisition`): LogEI (with noise: the plug-in noisy LogEI whose
incumbent is the best posterior mean over the observed points), times the probability of
feasibility for constraints, maximising the probability of feasibility alone until a feasible
point exists; piBO weighting ``pi(x)^(beta / n)`` with ``beta = config.prior_strength`` and ``n``
completed observations. ``"ucb"`` uses :math:`\beta_n = 0.2\, D \log(2n)` (Kandasamy et al.
2015) with ``D`` the encoded dimension and ``n`` the number of points the model is conditioned
on; ``"config"`` is CONFIG with the same :math:`\beta_n`.

**Batches and pending trials** use the kriging believer: each pending point, and then each point
chosen for the batch, is added to the data with its posterior mean as a fantasy value (the
hyperparameters are kept), which leaves the posterior mean unchanged and collapses the variance
there, so the next maximiser moves elsewhere. The incumbent includes the fantasies (at points
predicted feasible), so EI vanishes at a fantasised point, as it does at an observed one.

**Escaping a converged basin.** EI is greedy: once the incumbent sits in a local optimum whose
basin the model has resolved, EI is tiny everywhere (the GP cannot predict an unseen, deeper well)
and the rest of the budget refines the incumbent by negligible amounts. This is how Hartmann6
runs end in its -3.20 local minimum. So, for LogEI, a model step becomes an *escape step* when
the maximal LogEI (standardised units) is below ``EXPLORE_BELOW = -8`` (improvement below
``3e-4`` standard deviations of the data), or below ``STAGNANT_BELOW = -5`` when the best
value has not improved by more than ``STAGNATION_TOL = 0.01`` standard deviations in the last
``STAGNATION_WINDOW = 8`` observations (noise "none" only). An escape step masks the ball of
radius ``TABU_RADIUS = 2`` lengthscales (ARD distance) around the incumbent, refits a GP to the
points outside it (observations and fantasies), and maximises LogEI against the best of *those*,
times the feasibility probability. So it descends towards the best other region, as a fresh BO
on the rest of the space would, and when that region beats the incumbent the ordinary steps
take over there. An escape step loses nothing already found; its cost is that the refinement of
a converged optimum pauses. ``info["explore"]`` flags escape steps. The thresholds were set by
hand on shifted Branin and Hartmann6 runs (seeds 0-9), not derived.

**Determinism and duplicates.** All randomness of a call comes from
``numpy.random.default_rng([seed, n_observed + n_pending + n_failed])``. No suggestion equals
(by :meth:`Space.key`: integers and choices exactly, floats to 12 significant digits) an
observed, pending or failed point, or another suggestion of the batch. A finite space with fewer
unseen points than ``q`` yields only those; with none left, :class:`SpaceExhausted` is raised.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import log_ndtr
from scipy.stats import qmc

from workers.solvers.bayesopt.acquisition import Acquisition, AcquisitionKind, LogPrior, Tabu
from workers.solvers.bayesopt.gp import GP, KernelName, fit_gp, standardize
from workers.solvers.bayesopt.optimize import Maximum, maximize_acquisition
from workers.solvers.bayesopt.space import Param, Space

__all__ = [
    "Observation",
    "Recommendation",
    "SpaceExhausted",
    "StudyConfig",
    "Suggestions",
    "recommend",
    "suggest",
]

NoiseMode = Literal["none", "unknown", "known"]
Direction = Literal["minimize", "maximize"]
NOISELESS_VARIANCE = 1e-6  # standardised units
_N_ANCHORS = 5
EXPLORE_BELOW = -8.0  # max LogEI (standardised) under which a model step escapes the basin
TABU_RADIUS = 2.0  # lengthscales
STAGNANT_BELOW = -5.0  # ... or under which it does when the study has stagnated,
STAGNANT_IN_BASIN_BELOW = -3.0  # ... or this when, besides, the maximiser is in the basin
STAGNATION_WINDOW = 8
STAGNATION_TOL = 1e-2
_MIN_OUTSIDE = 3
_MIN_MODEL_OBSERVATIONS = 2


class SpaceExhausted(Exception):
    """Every point of a finite search space has been observed, is pending, or failed."""


@dataclass(frozen=True)
class Observation:
    """A completed trial: its parameters, objective value, constraint values and, for
    ``noise="known"``, the standard deviation of the value's noise (objective units)."""

    params: dict[str, Any]
    value: float
    constraints: dict[str, float] = field(default_factory=dict)
    noise_sd: float | None = None


@dataclass(frozen=True)
class StudyConfig:
    """Everything about a study that is not its data.

    Attributes
    ----------
    params
        The search space.
    direction
        ``"minimize"`` or ``"maximize"`` the objective.
    constraints
        ``(name, upper)`` pairs: a point is feasible iff every ``c_name(x) <= upper``.
    noise
        ``"none"`` (deterministic objective), ``"unknown"`` (noise level inferred) or ``"known"``
        (each observation carries ``noise_sd``).
    prior
        ``{param: (mean, sd)}`` in the parameter's natural units: where the user believes the
        optimum lies (numeric parameters only).
    seed
        Seeds the design and every random choice (``0 <= seed < 2**63``).
    initial_design_size
        Sobol points before the model takes over; ``None`` for ``min(max(5, d + 1), 10)``.
    acquisition
        ``"logei"`` (LogEI / noisy LogEI), ``"ucb"`` (unconstrained studies only) or ``"config"``.
    kernel
        ``"matern52"`` (default) or ``"rbf"``.
    prior_strength
        piBO's ``beta``: the prior's weight decays as ``beta / n``.
    """

    params: tuple[Param, ...]
    direction: Direction = "minimize"
    constraints: tuple[tuple[str, float], ...] = ()
    noise: NoiseMode = "none"
    prior: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    seed: int = 0
    initial_design_size: int | None = None
    acquisition: AcquisitionKind = "logei"
    kernel: KernelName = "matern52"
    prior_strength: float = 10.0

    def __post_init__(self) -> None:
        params = tuple(self.params)
        object.__setattr__(self, "params", params)
        Space(params)  # validates names
        if self.direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {self.direction!r}")
        if self.noise not in ("none", "unknown", "known"):
            raise ValueError(f"noise must be 'none', 'unknown' or 'known', got {self.noise!r}")
        if self.acquisition not in ("logei", "ucb", "config"):
            raise ValueError(
                f"acquisition must be 'logei', 'ucb' or 'config', got {self.acquisition!r}"
            )
        if self.kernel not in ("matern52", "rbf"):
            raise ValueError(f"kernel must be 'matern52' or 'rbf', got {self.kernel!r}")
        cons = tuple((str(n), float(u)) for n, u in self.constraints)
        names = [n for n, _ in cons]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate constraint names: {names}")
        if any(not math.isfinite(u) for _, u in cons):
            raise ValueError("constraint bounds must be finite")
        object.__setattr__(self, "constraints", cons)
        if cons and self.acquisition == "ucb":
            raise ValueError("acquisition 'ucb' takes no constraints: use 'config' or 'logei'")
        by_name = {p.name: p for p in params}
        for name, belief in self.prior.items():
            if name not in by_name:
                raise ValueError(f"prior names unknown parameter {name!r}")
            if by_name[name].type == "categorical":
                raise ValueError(f"prior on parameter {name!r}: categorical priors unsupported")
            mean, sd = belief
            if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0.0):
                raise ValueError(f"prior on parameter {name!r}: need a finite mean and sd > 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be in [0, 2**63), got {self.seed}")
        if self.initial_design_size is not None and self.initial_design_size < 1:
            raise ValueError("initial_design_size must be >= 1")
        if not (math.isfinite(self.prior_strength) and self.prior_strength >= 0.0):
            raise ValueError("prior_strength must be finite and >= 0")

    @property
    def n_initial(self) -> int:
        """The initial design size in effect."""
        if self.initial_design_size is not None:
            return self.initial_design_size
        return min(max(5, len(self.params) + 1), 10)


@dataclass
class Suggestions:
    """Points to evaluate next, and what led to them.

    ``info`` holds ``phase`` (``"initial_design"`` when every point is a design point, else
    ``"model"``), ``phases`` (per point), ``acquisition_values`` (per point, ``None`` for design
    points; LogEI in standardised units), ``fit_time_s``, ``acq_time_s``, ``time_s``,
    ``hyperparameters`` and counts.
    """

    params: list[dict[str, Any]]
    info: dict[str, Any]


@dataclass
class Recommendation:
    """The point a study would report as its result (an observed point, ``index`` into the
    observations) with its observed ``value`` and, for noisy studies, the posterior mean there in
    the objective's units."""

    params: dict[str, Any]
    value: float
    predicted_mean: float | None
    index: int


# --- data preparation ---------------------------------------------------------------------------
@dataclass
class _Data:
    space: Space
    X: np.ndarray  # (n, D) encoded observations
    y: np.ndarray  # (n,) values to minimise (negated for maximisation)
    C: np.ndarray  # (n, m) constraint values
    noise_sd: np.ndarray | None  # (n,) for noise "known"


def _prepare(config: StudyConfig, observations: Sequence[Observation]) -> _Data:
    space = Space(config.params)
    n, m = len(observations), len(config.constraints)
    X = np.zeros((n, space.dim))
    y = np.zeros(n)
    C = np.zeros((n, m))
    sds = np.zeros(n)
    for i, obs in enumerate(observations):
        try:
            X[i] = space.encode(obs.params)
        except ValueError as exc:
            raise ValueError(f"observation {i}: {exc}") from None
        value = float(obs.value)
        if not math.isfinite(value):
            raise ValueError(f"observation {i}: value {obs.value!r} is not finite")
        y[i] = value if config.direction == "minimize" else -value
        for j, (name, _) in enumerate(config.constraints):
            if name not in obs.constraints:
                raise ValueError(f"observation {i}: missing value of constraint {name!r}")
            cv = float(obs.constraints[name])
            if not math.isfinite(cv):
                raise ValueError(f"observation {i}: constraint {name!r} is not finite")
            C[i, j] = cv
        if config.noise == "known":
            if obs.noise_sd is None or not (math.isfinite(obs.noise_sd) and obs.noise_sd >= 0.0):
                raise ValueError(f"observation {i}: noise 'known' needs a finite noise_sd >= 0")
            sds[i] = float(obs.noise_sd)
    return _Data(space, X, y, C, sds if config.noise == "known" else None)


def _encode_all(space: Space, points: Sequence[Mapping[str, Any]], what: str) -> np.ndarray:
    U = np.zeros((len(points), space.dim))
    for i, p in enumerate(points):
        try:
            U[i] = space.encode(p)
        except ValueError as exc:
            raise ValueError(f"{what} {i}: {exc}") from None
    return U


@dataclass
class _Models:
    objective: GP
    y_shift: float
    y_scale: float
    constraints: list[tuple[GP, float]]  # (GP, standardised upper bound)
    fantasy_noise: float


def _fit_models(config: StudyConfig, data: _Data, rng: np.random.Generator) -> _Models:
    n = data.X.shape[0]
    ys, shift, scale = standardize(data.y)
    if config.noise == "none":
        fixed: np.ndarray | None = np.full(n, NOISELESS_VARIANCE)
    elif config.noise == "known":
        assert data.noise_sd is not None
        fixed = np.maximum((data.noise_sd / scale) ** 2, NOISELESS_VARIANCE)
    else:
        fixed = None
    gp = fit_gp(data.X, ys, kernel=config.kernel, fixed_noise=fixed, rng=rng)
    if fixed is None:
        assert gp.hyper.noise is not None
        fantasy_noise = gp.hyper.noise
    else:
        fantasy_noise = float(np.mean(fixed))
    cons = []
    for j, (_, upper) in enumerate(config.constraints):
        cs, cshift, cscale = standardize(data.C[:, j])
        cfixed = np.full(n, NOISELESS_VARIANCE) if config.noise == "none" else None
        cgp = fit_gp(data.X, cs, kernel=config.kernel, fixed_noise=cfixed, rng=rng)
        cons.append((cgp, (upper - cshift) / cscale))
    return _Models(gp, shift, scale, cons, fantasy_noise)


def _log_pof(models: _Models, U: np.ndarray) -> np.ndarray:
    total = np.zeros(U.shape[0])
    for gp, upper in models.constraints:
        mean, var = gp.predict(U)
        total += log_ndtr((upper - mean) / np.sqrt(var))
    return total


def _observed_feasible(config: StudyConfig, data: _Data) -> np.ndarray:
    uppers = np.array([u for _, u in config.constraints])
    return np.all(data.C <= uppers[None, :], axis=1) if uppers.size else np.ones(len(data.y), bool)


# --- the initial design -------------------------------------------------------------------------
def _design_points(
    config: StudyConfig,
    space: Space,
    start: int,
    count: int,
    taken: set[tuple[Any, ...]],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """``count`` canonical points of the study's Sobol sequence from index ``start`` on, skipping
    taken keys (which are updated)."""
    out: list[np.ndarray] = []
    if count <= 0:
        return out
    need = start + count
    m = max(int(math.ceil(math.log2(max(need, 2)))), 1)
    sobol = qmc.Sobol(len(space.params), scramble=True, seed=config.seed)
    V = sobol.random_base2(m)
    index = start
    max_index = max(4 * need, 1024)
    while len(out) < count and index < max_index:
        if index >= V.shape[0]:
            V = np.vstack([V, sobol.random(V.shape[0])])  # continues the same sequence
        u = space.from_unit(V[index : index + 1], config.prior)[0]
        index += 1
        key = space.key_of(u)
        if key not in taken:
            taken.add(key)
            out.append(u)
    while len(out) < count:  # a small finite space: the sequence keeps hitting taken points
        u = _random_untaken(space, taken, rng)
        taken.add(space.key_of(u))
        out.append(u)
    return out


def _random_untaken(
    space: Space, taken: set[tuple[Any, ...]], rng: np.random.Generator
) -> np.ndarray:
    card = space.cardinality()
    if card is not None and card <= 1 << 16:
        free = [u for u in space.enumerate_all() if space.key_of(u) not in taken]
        if not free:
            raise SpaceExhausted("every point of the search space has been tried")
        return free[int(rng.integers(len(free)))]
    for _ in range(10_000):
        u = space.from_unit(rng.random((1, len(space.params))))[0]
        if space.key_of(u) not in taken:
            return u
    raise SpaceExhausted("no untried point found in 10000 random draws")


# --- suggest --------------------------------------------------------------------------------------
def suggest(
    config: StudyConfig,
    observations: Sequence[Observation],
    pending: Sequence[Mapping[str, Any]],
    q: int,
    *,
    failed: Sequence[Mapping[str, Any]] = (),
) -> Suggestions:
    """The next ``q`` points to evaluate (see the module notes for the method).

    Parameters
    ----------
    config
        The study's configuration.
    observations
        Completed trials.
    pending
        Parameter dicts handed out and not yet observed (fantasised by the model).
    q
        Number of points wanted (``>= 1``).
    failed
        Parameter dicts whose evaluation failed: never suggested again, otherwise ignored.

    Returns
    -------
    Suggestions
        ``q`` parameter dicts (fewer only when a finite space has fewer unseen points) and info.

    Raises
    ------
    ValueError
        On invalid inputs (a point outside the space, a missing constraint value, ...), naming
        the offending item.
    SpaceExhausted
        When a finite space has no unseen point left.
    """
    started = time.perf_counter()
    if isinstance(q, bool) or not isinstance(q, int) or q < 1:
        raise ValueError(f"q must be an integer >= 1, got {q!r}")
    data = _prepare(config, observations)
    space = data.space
    U_pend = _encode_all(space, pending, "pending point")
    U_fail = _encode_all(space, failed, "failed point")
    taken = {space.key_of(u) for u in np.vstack([data.X, U_pend, U_fail])}
    handed = len(observations) + len(pending) + len(failed)
    rng = np.random.default_rng([config.seed, handed])
    card = space.cardinality()
    if card is not None:
        if card - len(taken) <= 0:
            raise SpaceExhausted("every point of the search space has been tried")
        q = min(q, card - len(taken))

    n_obs = len(observations)
    if n_obs < _MIN_MODEL_OBSERVATIONS:
        n_design = q
    else:
        n_design = min(q, max(0, config.n_initial - handed))
    chosen = _design_points(config, space, handed, n_design, taken, rng)
    phases = ["initial_design"] * len(chosen)
    acq_values: list[float | None] = [None] * len(chosen)
    info: dict[str, Any] = {
        "n_observations": n_obs,
        "n_pending": len(pending),
        "n_failed": len(failed),
        "initial_design_size": config.n_initial,
        "acquisition": config.acquisition,
        "fit_time_s": 0.0,
        "acq_time_s": 0.0,
    }
    if len(chosen) < q:
        model_points, model_values, model_info = _model_suggestions(
            config, data, U_pend, q - len(chosen), taken, rng
        )
        chosen += model_points
        phases += ["model"] * len(model_points)
        acq_values += model_values
        info.update(model_info)
    info.update(
        phase="model" if "model" in phases else "initial_design",
        phases=phases,
        acquisition_values=acq_values,
        time_s=time.perf_counter() - started,
    )
    return Suggestions([space.decode(u) for u in chosen], info)


def _standings(
    config: StudyConfig, data: _Data, models: _Models, y_fant: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised values and feasibility of every point the objective GP is conditioned on
    (observations, then fantasies): observed values (fantasised means) and observed constraints
    (posterior feasibility >= 1/2) for noise "none"; posterior means and posterior feasibility
    otherwise."""
    n_obs = data.X.shape[0]
    X_all = models.objective.X
    if config.noise == "none":
        values = np.concatenate([models.objective.y[:n_obs], y_fant])
        feasible = np.concatenate(
            [_observed_feasible(config, data), _log_pof(models, X_all[n_obs:]) >= math.log(0.5)]
        )
    else:
        values = models.objective.predict(X_all)[0]
        feasible = _log_pof(models, X_all) >= math.log(0.5)
    return values, feasible


def _incumbent(values: np.ndarray, feasible: np.ndarray) -> int | None:
    """Index of the best feasible point, ``None`` if none is feasible."""
    if not feasible.any():
        return None
    return int(np.argmin(np.where(feasible, values, np.inf)))


def _anchors(config: StudyConfig, data: _Data, models: _Models) -> np.ndarray:
    """The best few observed points, to seed local candidates of the acquisition maximiser."""
    if config.noise == "none":
        score = data.y.copy()
    else:
        score = models.objective.predict(data.X)[0]
    if config.constraints:
        if config.noise == "none":
            feasible = _observed_feasible(config, data)
        else:
            feasible = _log_pof(models, data.X) >= math.log(0.5)
        if feasible.any():
            score = np.where(feasible, score, np.inf)
        else:
            score = -_log_pof(models, data.X)
    order = np.argsort(score, kind="stable")[:_N_ANCHORS]
    return data.X[order]


def _model_suggestions(
    config: StudyConfig,
    data: _Data,
    U_pend: np.ndarray,
    count: int,
    taken: set[tuple[Any, ...]],
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[float | None], dict[str, Any]]:
    space = data.space
    t0 = time.perf_counter()
    models = _fit_models(config, data, rng)
    fit_time = time.perf_counter() - t0
    anchors = _anchors(config, data, models)
    n_obs = data.X.shape[0]
    prior = LogPrior(space, dict(config.prior)) if config.prior else None
    prior_weight = config.prior_strength / n_obs if prior is not None else 0.0

    stagnant = _stagnant(config, models.objective.y[:n_obs])
    y_fant = np.zeros(0)
    if U_pend.shape[0]:
        models, y_fant = _fantasize(models, U_pend)
    out: list[np.ndarray] = []
    values: list[float | None] = []
    explored: list[bool] = []
    t1 = time.perf_counter()
    for _ in range(count):
        X_all = models.objective.X
        standing, feasible = _standings(config, data, models, y_fant)
        best_index = _incumbent(standing, feasible)
        beta = 0.2 * space.dim * math.log(2.0 * X_all.shape[0])
        acq = Acquisition(
            kind=config.acquisition,
            objective=models.objective,
            incumbent=None if best_index is None else float(standing[best_index]),
            constraints=models.constraints,
            beta=beta,
            prior=prior,
            prior_weight=prior_weight,
        )
        best = maximize_acquisition(acq, space, rng, exclude=taken, anchors=anchors)
        explore = False
        if config.acquisition == "logei" and best is not None and best_index is not None:
            in_basin = _in_ball(models.objective, X_all[best_index], best.u)
            explore = best.value < EXPLORE_BELOW or (
                stagnant
                and (
                    best.value < STAGNANT_BELOW
                    or (in_basin and best.value < STAGNANT_IN_BASIN_BELOW)
                )
            )
        if explore:
            assert best_index is not None
            alt = _explore(config, models, standing, feasible, best_index, taken, rng)
            explore = alt is not None
            best = alt if alt is not None else best
        if best is None:
            u, value = _random_untaken(space, taken, rng), None
        else:
            u, value = best.u, best.value
        taken.add(space.key_of(u))
        out.append(u)
        values.append(value)
        explored.append(explore)
        models, fant = _fantasize(models, u[None, :])
        y_fant = np.concatenate([y_fant, fant])
    standing, feasible = _standings(config, data, models, y_fant)
    info = {
        "fit_time_s": fit_time,
        "acq_time_s": time.perf_counter() - t1,
        "hyperparameters": models.objective.hyper.as_dict(),
        "feasible_found": bool(feasible[:n_obs].any()),
        "explore": explored,
    }
    return out, values, info


def _in_ball(gp: GP, center: np.ndarray, u: np.ndarray) -> bool:
    """Whether ``u`` lies within ``TABU_RADIUS`` lengthscales of ``center``."""
    d = (u - center) / gp.hyper.lengthscales
    return bool(np.sqrt(float(d @ d)) <= TABU_RADIUS)


def _stagnant(config: StudyConfig, ys: np.ndarray) -> bool:
    """No significant improvement (``> STAGNATION_TOL`` standardised) in the last
    ``STAGNATION_WINDOW`` observations (noise "none" only; noisy values cannot tell)."""
    if config.noise != "none" or ys.size <= STAGNATION_WINDOW + config.n_initial:
        return False
    before = float(ys[:-STAGNATION_WINDOW].min())
    return bool(before - float(ys[-STAGNATION_WINDOW:].min()) <= STAGNATION_TOL)


def _explore(
    config: StudyConfig,
    models: _Models,
    standing: np.ndarray,
    feasible: np.ndarray,
    best_index: int,
    taken: set[tuple[Any, ...]],
    rng: np.random.Generator,
) -> Maximum | None:
    """An escape step for a converged basin (see the module notes): LogEI of a GP refitted to
    the points outside the basin's ball, against the best of them, with the ball masked."""
    X_all = models.objective.X
    center = X_all[best_index]
    ls = models.objective.hyper.lengthscales
    outside = np.sqrt((((X_all - center) / ls) ** 2).sum(1)) > TABU_RADIUS
    if outside.sum() < _MIN_OUTSIDE or not (feasible & outside).any():
        return None
    y_out, _, scale = standardize(models.objective.y[outside])
    scale2 = scale**2
    if config.noise == "unknown":
        fixed = None
    else:
        fixed = np.maximum(models.objective.noise[outside] / scale2, NOISELESS_VARIANCE)
    gp = fit_gp(X_all[outside], y_out, kernel=config.kernel, fixed_noise=fixed, rng=rng)
    if config.noise == "none":
        values = y_out
    else:
        values = gp.predict(X_all[outside])[0]
    ok = feasible[outside]
    incumbent = float(values[ok].min())
    acq = Acquisition(
        kind="logei",
        objective=gp,
        incumbent=incumbent,
        constraints=models.constraints,
        tabu=Tabu(center, ls, TABU_RADIUS),
    )
    order = np.argsort(np.where(ok, values, np.inf), kind="stable")[:_N_ANCHORS]
    anchors = X_all[outside][order]
    space = Space(config.params)
    found = maximize_acquisition(acq, space, rng, exclude=taken, anchors=anchors)
    if found is None:
        return None
    return Maximum(found.u, found.value, "explore")


def _fantasize(models: _Models, U: np.ndarray) -> tuple[_Models, np.ndarray]:
    """Kriging believer: condition every GP on its posterior mean at ``U``."""
    noise = np.full(U.shape[0], models.fantasy_noise)
    mean = models.objective.predict(U)[0]
    gp = models.objective.condition(U, mean, noise)
    cons = []
    for cgp, upper in models.constraints:
        cmean = cgp.predict(U)[0]
        cons.append((cgp.condition(U, cmean, np.full(U.shape[0], cgp.noise.mean())), upper))
    return _Models(gp, models.y_shift, models.y_scale, cons, models.fantasy_noise), mean


# --- recommend ------------------------------------------------------------------------------------
def recommend(config: StudyConfig, observations: Sequence[Observation]) -> Recommendation | None:
    """The observed point to report as the study's result, or ``None`` when there is none
    (no observation, or no feasible one).

    Noise ``"none"``: the best observed value among feasible observations (first on ties).
    Noisy studies: the observed point of best posterior mean (the GP fitted as in
    :func:`suggest`), among those whose posterior probability of feasibility is at least 1/2.
    """
    if not observations:
        return None
    data = _prepare(config, observations)
    sign = 1.0 if config.direction == "minimize" else -1.0
    if config.noise == "none":
        feasible = _observed_feasible(config, data)
        if not feasible.any():
            return None
        i = int(np.argmin(np.where(feasible, data.y, np.inf)))
        return Recommendation(dict(observations[i].params), float(observations[i].value), None, i)
    rng = np.random.default_rng([config.seed, len(observations), 1])
    models = _fit_models(config, data, rng)
    mean = models.objective.predict(data.X)[0]
    feasible = _log_pof(models, data.X) >= math.log(0.5)
    if not feasible.any():
        return None
    i = int(np.argmin(np.where(feasible, mean, np.inf)))
    predicted = sign * (models.y_shift + models.y_scale * float(mean[i]))
    return Recommendation(dict(observations[i].params), float(observations[i].value), predicted, i)
