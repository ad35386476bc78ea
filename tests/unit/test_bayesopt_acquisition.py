"""Acquisition functions: LogEI against log(EI) (in float64 and in 50-digit arithmetic), its
tail behaviour, and analytic gradients against finite differences; the maximiser."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from workers.solvers.bayesopt.acquisition import (
    Acquisition,
    LogPrior,
    Tabu,
    log_ei,
    log_h,
    log_h_grad,
    log_pof,
)
from workers.solvers.bayesopt.gp import GP, GPHyper
from workers.solvers.bayesopt.optimize import maximize_acquisition
from workers.solvers.bayesopt.space import Param, Space


def test_log_h_matches_direct_formula_where_it_is_accurate() -> None:
    """For z >= -5 the direct phi(z) + z Phi(z) loses at most a few digits to cancellation."""
    z = np.linspace(-5.0, 30.0, 3501)
    direct = np.log(norm.pdf(z) + z * norm.cdf(z))
    np.testing.assert_allclose(log_h(z), direct, rtol=1e-9, atol=1e-12)


def test_log_h_matches_high_precision_in_the_tail() -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for z in [-1.0, -2.5, -7.0, -20.0, -38.0, -60.0, -300.0, -1e4, -1e6, -1e9, -1e12]:
        zz = mpmath.mpf(z)
        h = mpmath.npdf(zz) + zz * mpmath.ncdf(zz)
        ref = float(mpmath.log(h))
        assert log_h(np.array([z]))[0] == pytest.approx(ref, rel=1e-10), z


def test_log_ei_is_finite_and_monotone_far_in_the_tail() -> None:
    """Where EI underflows to 0 (z < -38), LogEI stays finite, strictly increasing in z, with a
    finite positive gradient (the point of LogEI: the optimiser still sees a slope)."""
    z = -np.logspace(0, 15, 400)[::-1]  # from -1e15 up to -1
    lh = log_h(z)
    assert np.all(np.isfinite(lh)) and np.all(np.diff(lh) > 0)
    g = log_h_grad(z)
    assert np.all(np.isfinite(g)) and np.all(g > 0)
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(norm.pdf(-40.0) + -40.0 * norm.cdf(-40.0)))  # what LogEI avoids
    # continuity at the branch points
    for b in (-1.0, -1.0 / math.sqrt(np.finfo(float).eps)):
        lo, hi = log_h(np.array([b * (1 + 1e-12)])), log_h(np.array([b * (1 - 1e-12)]))
        assert abs(lo[0] - hi[0]) <= 1e-9 * max(1.0, abs(lo[0]))


def test_log_h_gradient() -> None:
    for z in [-1e3, -50.0, -5.0, -1.2, -0.5, 0.0, 2.0, 10.0]:
        fd = (log_h(np.array([z + 1e-6 * max(1, abs(z))])) - log_h(np.array([z]))) / (
            1e-6 * max(1, abs(z))
        )
        assert log_h_grad(np.array([z]))[0] == pytest.approx(fd[0], rel=1e-4), z


def test_log_ei_against_direct_ei() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=200)
    sd = rng.uniform(0.05, 2.0, size=200)
    best = -0.3
    z = (best - mean) / sd
    ok = z > -5  # where the direct formula is accurate
    direct = np.log(sd * (z * norm.cdf(z) + norm.pdf(z)))
    val, dm, ds = log_ei(mean, sd, best)
    np.testing.assert_allclose(val[ok], direct[ok], rtol=1e-9)
    eps = 1e-7
    np.testing.assert_allclose(
        dm, (log_ei(mean + eps, sd, best)[0] - val) / eps, rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        ds, (log_ei(mean, sd + eps, best)[0] - val) / eps, rtol=1e-4, atol=1e-6
    )


def test_log_pof() -> None:
    val, dm, ds = log_pof(np.array([0.0, 3.0, 40.0]), np.array([1.0, 0.5, 1.0]), 1.0)
    np.testing.assert_allclose(val[:2], np.log(norm.cdf([1.0, -4.0])), rtol=1e-12)
    assert np.isfinite(val[2]) and val[2] < -700  # Phi(-39) underflows; its log does not
    assert np.all(np.isfinite(dm)) and np.all(np.isfinite(ds))


def gp_2d(seed: int = 0) -> GP:
    rng = np.random.default_rng(seed)
    X = rng.random((12, 2))
    y = np.sin(5 * X[:, 0]) * np.cos(3 * X[:, 1])
    return GP(X, y, GPHyper(np.array([0.3, 0.4]), 1.2, 0.1), np.full(12, 1e-4))


@pytest.mark.parametrize("kind", ["logei", "logei+", "ucb", "config"])
def test_acquisition_gradients(kind: str) -> None:
    gp = gp_2d()
    cons = [(gp_2d(1), 0.3)]
    space = Space([Param("a", "float", 1e-3, 1.0, log=True), Param("b", "float", -2.0, 2.0)])
    if kind == "logei":
        acq = Acquisition("logei", gp, incumbent=float(gp.y.min()))
    elif kind == "logei+":  # constraints, prior, tabu all at once
        acq = Acquisition(
            "logei",
            gp,
            incumbent=float(gp.y.min()),
            constraints=cons,
            prior=LogPrior(space, {"a": (0.05, 0.1), "b": (0.5, 1.0)}),
            prior_weight=0.7,
            tabu=Tabu(np.array([0.5, 0.5]), np.array([0.3, 0.4]), 1.0),
        )
    elif kind == "ucb":
        acq = Acquisition("ucb", gp, beta=2.5)
    else:
        acq = Acquisition("config", gp, constraints=cons, beta=2.5)
    U = np.random.default_rng(3).uniform(0.05, 0.95, size=(6, 2))
    _, grads = acq(U, True)
    assert grads is not None
    for i in range(len(U)):
        fd = approx_fprime(U[i], lambda u: acq(u[None, :])[0][0], 1e-7)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-4, atol=1e-5)


def test_maximiser_finds_the_maximum_of_a_known_function() -> None:
    """A smooth function with one interior maximum in 3-D: the maximiser's optimum agrees with
    the true one, and duplicates of an excluded key are never returned."""
    space = Space([Param(f"x{i}", "float", 0.0, 1.0) for i in range(3)])
    target = np.array([0.3, 0.7, 0.55])

    def acq(U: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        d = U - target
        val = -(d**2).sum(1)
        return val, (-2 * d if grad else None)

    best = maximize_acquisition(acq, space, np.random.default_rng(0))
    assert best is not None
    np.testing.assert_allclose(best.u, target, atol=1e-5)
    again = maximize_acquisition(
        acq, space, np.random.default_rng(0), exclude={space.key_of(best.u)}
    )
    assert again is not None and space.key_of(again.u) != space.key_of(best.u)


def test_maximiser_on_a_mixed_space() -> None:
    """Int and categorical coordinates: the discrete optimum is found by rounding + local
    search (the relaxed optimum x=2.4 rounds to 2; the best choice is 'b')."""
    space = Space(
        [
            Param("x", "int", 0, 10),
            Param("c", "categorical", choices=("a", "b", "c")),
            Param("f", "float", 0.0, 1.0),
        ]
    )
    bonus = np.array([0.0, 1.0, 0.2])

    def acq(U: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x = -0.5 + U[:, 0] * 11  # relaxed integer value
        val = -((x - 2.4) ** 2) + U[:, 1:4] @ bonus - (U[:, 4] - 0.8) ** 2
        g = np.zeros_like(U)
        g[:, 0] = -2 * (x - 2.4) * 11
        g[:, 1:4] = bonus
        g[:, 4] = -2 * (U[:, 4] - 0.8)
        return val, (g if grad else None)

    best = maximize_acquisition(acq, space, np.random.default_rng(1))
    assert best is not None
    p = space.decode(best.u)
    assert p["x"] == 2 and p["c"] == "b" and p["f"] == pytest.approx(0.8, abs=1e-4)
    taken = {space.key({"x": 2, "c": "b", "f": p["f"]})}
    second = maximize_acquisition(acq, space, np.random.default_rng(1), exclude=taken)
    assert second is not None and space.key_of(second.u) not in taken
