"""Ground costs from point clouds, and their normalisation (array-module agnostic)."""

from __future__ import annotations

from typing import Any, Literal

from workers.solvers.backend import array_namespace

Metric = Literal["sqeuclidean", "euclidean", "cityblock"]
Scale = Literal["none", "max", "median"]


def pairwise_cost(x: Any, y: Any, metric: Metric) -> Any:
    """``C_ij = d(x_i, y_j)`` for points ``x`` (n, d) and ``y`` (m, d).

    Squared Euclidean uses ``|x|^2 + |y|^2 - 2 x.y`` (one matrix product) clipped at 0 against
    round-off; city-block accumulates one coordinate at a time to stay O(n m) in memory.
    """
    xp = array_namespace(x, y)
    if metric == "cityblock":
        C = xp.zeros((x.shape[0], y.shape[0]), dtype=x.dtype)
        for k in range(x.shape[1]):
            C += xp.abs(x[:, k, None] - y[None, :, k])
        return C
    sq = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
    xp.maximum(sq, 0.0, out=sq)
    return sq if metric == "sqeuclidean" else xp.sqrt(sq)


def cost_scale_factor(C: Any, scale: Scale) -> float:
    """The divisor ``cost_scale`` asks for (1 when the cost is all zeros)."""
    xp = array_namespace(C)
    if scale == "none":
        return 1.0
    value = float(C.max()) if scale == "max" else float(xp.median(C))
    return value if value > 0 else 1.0
