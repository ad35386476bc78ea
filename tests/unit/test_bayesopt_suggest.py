"""suggest() and recommend(): determinism, the initial design, duplicates, batches, constraints,
priors, noise, and input errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import qmc

from workers.solvers.bayesopt.space import Param, Space
from workers.solvers.bayesopt.suggest import (
    Observation,
    SpaceExhausted,
    StudyConfig,
    recommend,
    suggest,
)

UNIT2 = (Param("x", "float", 0.0, 1.0), Param("y", "float", 0.0, 1.0))


def quadratic(p: dict[str, Any]) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2


def run(config: StudyConfig, f: Any, n: int, q: int = 1) -> list[Observation]:
    obs: list[Observation] = []
    while len(obs) < n:
        for p in suggest(config, obs, [], q).params:
            obs.append(Observation(p, f(p)))
    return obs


def test_initial_design_is_the_studys_sobol_sequence() -> None:
    """The first points are the scrambled Sobol sequence seeded by config.seed, in order,
    whether asked one at a time (with the earlier ones pending) or as a batch."""
    config = StudyConfig(UNIT2, seed=11)
    assert config.n_initial == 5
    ref = qmc.Sobol(2, scramble=True, seed=11).random_base2(3)[:5]
    batch = suggest(config, [], [], 5)
    assert batch.info["phase"] == "initial_design"
    got = np.array([[p["x"], p["y"]] for p in batch.params])
    np.testing.assert_allclose(got, ref, atol=1e-12)
    one_by_one: list[dict[str, Any]] = []
    for _ in range(5):
        one_by_one += suggest(config, [], one_by_one, 1).params
    assert one_by_one == batch.params


def test_model_phase_is_deterministic_and_reported() -> None:
    config = StudyConfig(UNIT2, seed=3)
    obs = run(config, quadratic, 8)
    a = suggest(config, obs, [], 2)
    b = suggest(config, obs, [], 2)
    assert a.params == b.params
    assert a.info["phase"] == "model" and a.info["phases"] == ["model", "model"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in a.info["acquisition_values"])
    assert len(a.info["hyperparameters"]["lengthscales"]) == 2
    other_seed = suggest(StudyConfig(UNIT2, seed=4), obs, [], 2)
    assert other_seed.params != a.params


def test_finds_the_minimum_of_a_quadratic() -> None:
    config = StudyConfig(UNIT2, seed=0)
    obs = run(config, quadratic, 15)
    rec = recommend(config, obs)
    assert rec is not None and rec.value < 1e-3
    assert rec.value == min(o.value for o in obs) and obs[rec.index].params == rec.params


def test_maximize_mirrors_minimize() -> None:
    """Maximising -f sees exactly the data of minimising f, so it suggests the same points."""
    obs = run(StudyConfig(UNIT2, seed=5), quadratic, 7)
    neg = [Observation(o.params, -o.value) for o in obs]
    a = suggest(StudyConfig(UNIT2, seed=5), obs, [], 1).params
    b = suggest(StudyConfig(UNIT2, direction="maximize", seed=5), neg, [], 1).params
    assert a == b
    rec = recommend(StudyConfig(UNIT2, direction="maximize", seed=5), neg)
    assert rec is not None and rec.value == max(o.value for o in neg)


def test_no_duplicates_in_a_small_integer_space_until_exhausted() -> None:
    """4 x 3 integers = 12 points: every suggestion is new (rounding would otherwise collide),
    the last batch is cut to what is left, then SpaceExhausted."""
    params = (Param("a", "int", 0, 3), Param("b", "int", -1, 1))
    space = Space(params)
    config = StudyConfig(params, seed=2, initial_design_size=3)
    obs: list[Observation] = []
    pending: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    while True:
        try:
            s = suggest(config, obs, pending, 4)
        except SpaceExhausted:
            break
        keys = [space.key(p) for p in s.params]
        assert len(set(keys)) == len(keys) and not (set(keys) & seen)
        seen |= set(keys)
        # half of each batch completes, half stays pending
        for p in s.params[: len(s.params) // 2 + 1]:
            obs.append(Observation(p, float((p["a"] - 2) ** 2 + p["b"] ** 2)))
        pending += s.params[len(s.params) // 2 + 1 :]
    assert len(seen) == 12


def test_no_duplicates_with_a_large_integer_space() -> None:
    """A space too large to enumerate, whose optimum is already observed: rounding of the
    continuous maximiser keeps landing on observed points, which must be avoided."""
    params = (Param("a", "int", 0, 100), Param("b", "int", 0, 100), Param("c", "int", 0, 3))
    space = Space(params)
    config = StudyConfig(params, seed=1)

    def f(p: dict[str, Any]) -> float:
        return (p["a"] - 50) ** 2 + (p["b"] - 50) ** 2 + p["c"]

    obs = run(config, f, 12)
    near = [{"a": 50 + i, "b": 50 + j, "c": 0} for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
    obs += [Observation(p, f(p)) for p in [{"a": 50, "b": 50, "c": 0}, *near[:4]]]
    pending = near[4:]
    s = suggest(config, obs, pending, 5)
    taken = {space.key(o.params) for o in obs} | {space.key(p) for p in pending}
    keys = [space.key(p) for p in s.params]
    assert len(set(keys)) == 5 and not (set(keys) & taken)
    assert all(isinstance(p["a"], int) for p in s.params)


def test_batch_points_are_spread_by_the_kriging_believer() -> None:
    config = StudyConfig(UNIT2, seed=6)
    obs = run(config, quadratic, 8)
    s = suggest(config, obs, [], 4)
    X = np.array([[p["x"], p["y"]] for p in s.params])
    d = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    assert d[np.triu_indices(4, 1)].min() > 1e-3


def test_constraint_is_found_and_honoured() -> None:
    """min x + y subject to (x - 0.8)^2 + (y - 0.8)^2 <= 0.05: the unconstrained optimum (0, 0)
    is infeasible; the study must find the feasible disc and report a feasible point near the
    constrained optimum (value 1.6 - sqrt(0.1) = 1.2838)."""
    config = StudyConfig(UNIT2, constraints=(("disc", 0.05),), seed=0)
    obs: list[Observation] = []
    for _ in range(22):
        p = suggest(config, obs, [], 1).params[0]
        c = (p["x"] - 0.8) ** 2 + (p["y"] - 0.8) ** 2
        obs.append(Observation(p, p["x"] + p["y"], {"disc": c}))
    feasible = [o for o in obs if o.constraints["disc"] <= 0.05]
    assert len(feasible) >= 5
    rec = recommend(config, obs)
    assert rec is not None and obs[rec.index].constraints["disc"] <= 0.05
    assert rec.value == min(o.value for o in feasible)
    assert rec.value < 1.2838 + 0.05


def test_infeasible_everywhere_so_far_maximises_feasibility() -> None:
    config = StudyConfig(UNIT2, constraints=(("c", 0.0),), seed=0)
    obs = [
        Observation({"x": x, "y": y}, 0.0, {"c": 1.0 - x - y + 0.5})
        for x, y in [(0.1, 0.1), (0.2, 0.5), (0.5, 0.2), (0.4, 0.4), (0.0, 0.6), (0.6, 0.0)]
    ]
    assert recommend(config, obs) is None
    s = suggest(config, obs, [], 1)
    assert s.info["feasible_found"] is False
    p = s.params[0]
    assert p["x"] + p["y"] > 0.9  # moves towards where c decreases


def test_config_acquisition_runs_with_constraints() -> None:
    config = StudyConfig(UNIT2, constraints=(("c", 0.1),), acquisition="config", seed=1)
    obs = [
        Observation(p, quadratic(p), {"c": p["x"] - 0.5}) for p in suggest(config, [], [], 6).params
    ]
    s = suggest(config, obs, [], 2)
    assert len(s.params) == 2 and s.info["acquisition"] == "config"
    ucb = StudyConfig(UNIT2, acquisition="ucb", seed=1)
    assert len(suggest(ucb, [Observation(o.params, o.value) for o in obs], [], 1).params) == 1


def test_prior_pulls_the_design_and_the_model_towards_it() -> None:
    far = {"x": (0.9, 0.05), "y": (0.1, 0.05)}
    with_prior = StudyConfig(UNIT2, prior=far, seed=0)
    without = StudyConfig(UNIT2, seed=0)
    design = suggest(with_prior, [], [], 5).params
    assert np.mean([p["x"] for p in design]) > 0.8 and np.mean([p["y"] for p in design]) < 0.2
    plain = suggest(without, [], [], 5).params
    assert abs(np.mean([p["x"] for p in plain]) - 0.5) < 0.2

    def flat(p: dict[str, Any]) -> float:  # nearly flat: the prior decides
        return 1e-3 * math.sin(7 * p["x"] + 3 * p["y"])

    obs = [Observation(p, flat(p)) for p in plain]
    a = suggest(with_prior, obs, [], 1).params[0]
    b = suggest(without, obs, [], 1).params[0]
    assert math.dist((a["x"], a["y"]), (0.9, 0.1)) < math.dist((b["x"], b["y"]), (0.9, 0.1))
    assert math.dist((a["x"], a["y"]), (0.9, 0.1)) < 0.2


def test_noisy_study_infers_noise_and_recommends_by_posterior_mean() -> None:
    rng = np.random.default_rng(0)
    config = StudyConfig(UNIT2, noise="unknown", seed=0)
    obs = []
    for _ in range(14):
        p = suggest(config, obs, [], 1).params[0]
        obs.append(Observation(p, quadratic(p) + 0.05 * rng.standard_normal()))
    s = suggest(config, obs, [], 1)
    assert s.info["hyperparameters"]["noise"] > 1e-4
    rec = recommend(config, obs)
    assert rec is not None and rec.predicted_mean is not None
    assert quadratic(rec.params) < 0.05
    known = StudyConfig(UNIT2, noise="known", seed=0)
    with pytest.raises(ValueError, match="noise_sd"):
        suggest(known, obs, [], 1)
    ok = [Observation(o.params, o.value, noise_sd=0.05) for o in obs]
    assert len(suggest(known, ok, [], 1).params) == 1


def test_mixed_space_round_trip_through_suggest() -> None:
    params = (
        Param("lr", "float", 1e-4, 1e-1, log=True),
        Param("layers", "int", 1, 6),
        Param("act", "categorical", choices=("relu", "tanh", "gelu")),
    )
    config = StudyConfig(params, seed=0)

    def f(p: dict[str, Any]) -> float:
        return (math.log10(p["lr"]) + 2.5) ** 2 + (p["layers"] - 3) ** 2 + (p["act"] != "tanh")

    obs = run(config, f, 16)
    space = Space(params)
    keys = [space.key(o.params) for o in obs]
    assert len(set(keys)) == len(keys)
    for o in obs:
        assert isinstance(o.params["layers"], int) and o.params["act"] in ("relu", "tanh", "gelu")
    best = recommend(config, obs)
    assert best is not None and best.value < 1.0


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: StudyConfig(UNIT2, prior={"z": (0.0, 1.0)}), "unknown parameter 'z'"),
        (lambda: StudyConfig(UNIT2, prior={"x": (0.5, 0.0)}), "sd > 0"),
        (lambda: StudyConfig(UNIT2, constraints=(("c", 1.0),), acquisition="ucb"), "ucb"),
        (lambda: StudyConfig(UNIT2, seed=-1), "seed"),
        (lambda: StudyConfig(UNIT2, direction="up"), "direction"),  # type: ignore[arg-type]
        (lambda: StudyConfig(UNIT2, initial_design_size=0), "initial_design_size"),
    ],
)
def test_config_errors(build: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()


def test_input_errors_name_the_item() -> None:
    config = StudyConfig(UNIT2, constraints=(("c", 0.0),))
    good = Observation({"x": 0.1, "y": 0.2}, 1.0, {"c": 0.0})
    with pytest.raises(ValueError, match=r"observation 1: parameter 'x'"):
        suggest(config, [good, Observation({"x": 2.0, "y": 0.2}, 1.0, {"c": 0.0})], [], 1)
    with pytest.raises(ValueError, match=r"observation 0: missing value of constraint 'c'"):
        suggest(config, [Observation({"x": 0.1, "y": 0.2}, 1.0)], [], 1)
    with pytest.raises(ValueError, match=r"observation 0: value nan"):
        suggest(config, [Observation({"x": 0.1, "y": 0.2}, math.nan, {"c": 0.0})], [], 1)
    with pytest.raises(ValueError, match=r"pending point 0: parameter 'y'"):
        suggest(config, [good], [{"x": 0.5}], 1)
    with pytest.raises(ValueError, match="q must be"):
        suggest(config, [good], [], 0)
    assert recommend(config, []) is None


def test_failed_points_are_not_suggested_again() -> None:
    params = (Param("k", "int", 0, 2),)
    config = StudyConfig(params, seed=0)
    s = suggest(config, [], [], 2, failed=[{"k": 0}])
    assert sorted(p["k"] for p in s.params) == [1, 2]
    with pytest.raises(SpaceExhausted):
        suggest(config, [], [{"k": 1}, {"k": 2}], 1, failed=[{"k": 0}])
