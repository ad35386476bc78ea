r"""Synthetic test problems for Bayesian optimisation, with known global minima.

===================  =====  ============================  ================================
name                 dim    domain (per coordinate)       global minimum (value, at)
===================  =====  ============================  ================================
``branin``           2      [-5, 10] x [0, 15]            0.397887, 3 minimisers
``hartmann6``        6      [0, 1]                        -3.322368, (0.2017, 0.1500, ...)
``ackley``           any    [-32.768, 32.768]             0 at 0
``levy``             any    [-10, 10]                     0 at 1
``rosenbrock``       any    [-5, 10]                      0 at 1
``styblinski_tang``  any    [-5, 5]                       -39.16617 d at -2.903534
===================  =====  ============================  ================================

(definitions as in the Virtual Library of Simulation Experiments, Surjanovic & Bingham, with
``a, b, c = 20, 0.2, 2 pi`` for Ackley). The dimension of the last four defaults to 10.

**Shift.** ``make_test_problem(name, shift=s, seed=k)`` keeps the domain and translates the
function: :math:`g(x) = f(x - \delta)` with :math:`\delta_j = s\,(\mathrm{high}_j -
\mathrm{low}_j)\,\epsilon_j`, signs :math:`\epsilon_j = \pm 1` drawn from
``numpy.random.default_rng(seed)``. A known global minimiser :math:`m` of :math:`f` becomes
:math:`m + \delta`; every coordinate where that leaves the domain has its sign flipped, and if the
point is still outside, the next known minimiser is tried (Branin has three); if none fits,
``ValueError``. Each function's minimum value over all of :math:`\mathbb{R}^d` equals its minimum
over the domain (Branin's value ``s t = 5 / (4 pi)`` is its infimum on the plane; Ackley, Levy and
Rosenbrock are >= 0; Styblinski-Tang is separable with the same one-dimensional minimum; for
Hartmann6 the tests check it numerically on shifted domains), so the shifted problem keeps its
``optimum`` value and ``g(x) - optimum`` is the exact regret. The random shift stops a method
whose design happens to probe the domain's centre (Ackley's optimum) or a symmetric point from
winning by luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TEST_FUNCTIONS", "TestProblem", "make_test_problem"]

TEST_FUNCTIONS = ("branin", "hartmann6", "ackley", "levy", "rosenbrock", "styblinski_tang")
_DEFAULT_DIM = 10

_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_MIN = np.array([0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054])
_H6_OPT = -3.3223680114155147
_ST_X = -2.903534027771178
_ST_F1 = -39.16616570377142  # per coordinate


def _branin(x: np.ndarray) -> float:
    x1, x2 = float(x[0]), float(x[1])
    b, c, t = 5.1 / (4.0 * math.pi**2), 5.0 / math.pi, 1.0 / (8.0 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


def _hartmann6(x: np.ndarray) -> float:
    inner = np.sum(_H6_A * (x[None, :] - _H6_P) ** 2, axis=1)
    return -float(_H6_ALPHA @ np.exp(-inner))


def _ackley(x: np.ndarray) -> float:
    d = x.size
    s1 = math.sqrt(float(x @ x) / d)
    s2 = float(np.cos(2.0 * math.pi * x).sum()) / d
    return -20.0 * math.exp(-0.2 * s1) - math.exp(s2) + 20.0 + math.e


def _levy(x: np.ndarray) -> float:
    w = 1.0 + (x - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    mid = float(np.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * np.sin(math.pi * w[:-1] + 1.0) ** 2)))
    tail = (w[-1] - 1.0) ** 2 * (1.0 + math.sin(2.0 * math.pi * w[-1]) ** 2)
    return head + mid + float(tail)


def _rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _styblinski_tang(x: np.ndarray) -> float:
    return 0.5 * float(np.sum(x**4 - 16.0 * x**2 + 5.0 * x))


@dataclass(frozen=True, eq=False)
class TestProblem:
    """A (possibly shifted) test function on a box, to be minimised.

    Attributes
    ----------
    name, dim
    bounds : array, shape (dim, 2)
        ``[low, high]`` per coordinate.
    optimum
        The global minimum value over the box.
    minimizer : array, shape (dim,)
        A global minimiser inside the box.
    shift_vector : array, shape (dim,)
        The translation ``delta``: the problem evaluates ``f(x - delta)``.
    """

    __test__ = False  # not a pytest test class

    name: str
    dim: int
    bounds: np.ndarray
    optimum: float
    minimizer: np.ndarray
    shift_vector: np.ndarray
    base: Callable[[np.ndarray], float] = field(repr=False)

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"{self.name}: expected a point of shape ({self.dim},), got {x.shape}")
        return float(self.base(x - self.shift_vector))


def _spec(
    name: str, dim: int | None
) -> tuple[int, np.ndarray, float, list[np.ndarray], Callable[[np.ndarray], float]]:
    if name == "branin":
        if dim not in (None, 2):
            raise ValueError("branin is two-dimensional")
        minimizers = [
            np.array([-math.pi, 12.275]),
            np.array([math.pi, 2.275]),
            np.array([9.42478, 2.475]),
        ]
        bounds = np.array([[-5.0, 10.0], [0.0, 15.0]])
        return 2, bounds, 5.0 / (4.0 * math.pi), minimizers, _branin
    if name == "hartmann6":
        if dim not in (None, 6):
            raise ValueError("hartmann6 is six-dimensional")
        return 6, np.tile([0.0, 1.0], (6, 1)), _H6_OPT, [_H6_MIN.copy()], _hartmann6
    d = _DEFAULT_DIM if dim is None else int(dim)
    if d < 1 or (name in ("levy", "rosenbrock") and d < 2):
        raise ValueError(f"{name}: invalid dimension {dim}")
    if name == "ackley":
        return d, np.tile([-32.768, 32.768], (d, 1)), 0.0, [np.zeros(d)], _ackley
    if name == "levy":
        return d, np.tile([-10.0, 10.0], (d, 1)), 0.0, [np.ones(d)], _levy
    if name == "rosenbrock":
        return d, np.tile([-5.0, 10.0], (d, 1)), 0.0, [np.ones(d)], _rosenbrock
    if name == "styblinski_tang":
        return d, np.tile([-5.0, 5.0], (d, 1)), _ST_F1 * d, [np.full(d, _ST_X)], _styblinski_tang
    raise ValueError(f"unknown test function {name!r}; known: {', '.join(TEST_FUNCTIONS)}")


def make_test_problem(
    name: str, dim: int | None = None, *, shift: float = 0.0, seed: int = 0
) -> TestProblem:
    """The test problem ``name`` in dimension ``dim`` (fixed for branin/hartmann6, default 10 for
    the others), translated by a seeded random shift of relative size ``shift`` in ``[0, 1)``
    (see the module notes)."""
    d, bounds, optimum, minimizers, base = _spec(name, dim)
    if not (math.isfinite(shift) and 0.0 <= shift < 1.0):
        raise ValueError(f"shift must be in [0, 1), got {shift}")
    width = bounds[:, 1] - bounds[:, 0]
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=d)
    for m in minimizers:
        s = signs.copy()
        delta = shift * width * s
        out = (m + delta < bounds[:, 0]) | (m + delta > bounds[:, 1])
        s[out] = -s[out]
        delta = shift * width * s
        target = m + delta
        if np.all((target >= bounds[:, 0]) & (target <= bounds[:, 1])):
            return TestProblem(name, d, bounds, optimum, target, delta, base)
    raise ValueError(f"{name}: shift {shift} moves every known minimiser out of the domain")
