r"""Safeguarded Anderson acceleration of a fixed-point iteration ``w <- T(w)``.

With the residual ``g(w) = w - T(w)`` and the last ``mem`` differences of iterates
``S = [w_{i+1} - w_i]`` and of residuals ``Y = [g_{i+1} - g_i]``, one step is

.. math::

    w^+ = T(w_k) - (S - Y)\,\gamma, \qquad
    \gamma = \begin{cases}
        (S^T Y + \epsilon I)^{-1} S^T g_k & \text{type I,} \\
        (Y^T Y + \epsilon I)^{-1} Y^T g_k & \text{type II,}
    \end{cases}

(Walker & Ni 2011; Zhang, O'Donoghue & Boyd 2020). The regularisation ``epsilon`` is relative to
``||S||_F ||Y||_F`` (type I) or ``||Y||_F^2`` (type II). As in SCS, the accelerated point is
*safeguarded*: the caller evaluates ``T`` at it and keeps it only when its residual is at most
``safeguard`` times the residual of the plain step it replaced; otherwise the caller goes back
to the plain step and the memory is cleared. Steps with a huge ``||gamma||`` (nearly dependent
columns) are refused and also clear the memory.

The memory is also *restarted* when the residual at a recorded point exceeds the smallest one
recorded since the last restart. The safeguard judges an accelerated point one step later; a
run of accepted steps can still leave the iteration stalled, with the residual rising for tens
of iterations while the memory keeps differences from a region the iterates have left. Measured
with the cones benchmark's instances (seeds 0-7) and the unit tests' random problems:

- robust PCA m = 60 to 1e-4: median iterations 310 -> 215 (without acceleration, seeds 0-4
  needed 150: the stall had made acceleration a loss here);
- random LPs (two sizes, to 1e-4 and 1e-7): 10-31% fewer iterations in total;
- D-optimal design, max-cut, QPs: unchanged or fewer; one SOCP of six took 240 iterations
  instead of 180, and graph partitioning n = 150 to 1e-6 a median 310 instead of 300.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Anderson"]

_MAX_WEIGHT_NORM = 1e10


class Anderson:
    """Memory of past iterates and the Anderson extrapolation.

    Parameters
    ----------
    mem : int
        Number of difference pairs kept (``acceleration_lookback``).
    type1 : bool
        Type-I (``True``, SCS's default) or type-II.
    regularization : float
        Relative Tikhonov weight ``epsilon``.
    restart_factor : float
        Restart when ``||g||`` exceeds this times the smallest ``||g||`` since the last restart
        (``inf``: never).
    """

    def __init__(
        self,
        mem: int,
        *,
        type1: bool = True,
        regularization: float = 1e-8,
        restart_factor: float = 1.0,
    ) -> None:
        self.mem = int(mem)
        self.type1 = type1
        self.reg = float(regularization)
        self.restart_factor = float(restart_factor)
        self.restarts = 0
        self.residual_norm = math.nan  # ||w - T(w)|| of the last recorded pair
        self.reset()

    def reset(self) -> None:
        # The differences live in the columns of two (N, mem) Fortran-ordered buffers used as
        # rings: the least-squares weights do not depend on the order of the columns, so the
        # oldest pair is simply overwritten and nothing is stacked or shifted per step.
        self._S: Any = None
        self._Y: Any = None
        # The small matrix of the normal equations (S^T Y or Y^T Y) and the squared column
        # norms, kept up to date one column at a time: rebuilding Y^T Y each step cost more than
        # the rest of the step (66 of ~150 microseconds at N = 9000, mem = 10).
        self._G: Any = None
        self._s2 = np.zeros(self.mem)
        self._y2 = np.zeros(self.mem)
        self._count = 0
        self._next = 0
        self._w_prev: Any = None
        self._g_prev: Any = None
        self._best = math.inf  # smallest ||g|| recorded since the reset

    def step(self, w: Any, tw: Any, xp: Any) -> Any | None:
        """Record the pair ``(w, T(w))`` and return the extrapolated point, or ``None`` when no
        step can be made yet (or the weights are unreliable, which also clears the memory)."""
        g = w - tw
        gnorm = float(xp.linalg.norm(g))
        self.residual_norm = gnorm
        if gnorm > self.restart_factor * self._best:
            self.reset()
            self.restarts += 1
        self._best = min(self._best, gnorm)
        if self._w_prev is not None:
            if self._S is None or self._S.shape[0] != w.shape[0]:
                self._S = xp.empty((w.shape[0], self.mem), dtype=w.dtype, order="F")
                self._Y = xp.empty_like(self._S, order="F")
                self._G = np.zeros((self.mem, self.mem))
            j = self._next
            sj, yj = self._S[:, j], self._Y[:, j]
            xp.subtract(w, self._w_prev, out=sj)
            xp.subtract(g, self._g_prev, out=yj)
            self._next = (j + 1) % self.mem
            self._count = min(self._count + 1, self.mem)
            # the filled columns are always the first `count` ones (the ring fills in order)
            S, Y = self._S[:, : self._count], self._Y[:, : self._count]
            self._s2[j] = float(sj @ sj)
            self._y2[j] = float(yj @ yj)
            if self.type1:  # G = S^T Y: row j and column j change
                self._G[j, : self._count] = _host(Y.T @ sj)
                self._G[: self._count, j] = _host(S.T @ yj)
            else:  # G = Y^T Y, symmetric
                col = _host(Y.T @ yj)
                self._G[: self._count, j] = col
                self._G[j, : self._count] = col
        self._w_prev = w
        self._g_prev = g
        if self._count == 0:
            return None
        k = self._count
        S = self._S[:, :k]
        Y = self._Y[:, :k]
        y2 = float(np.sum(self._y2[:k]))
        if self.type1:
            rhs = S.T @ g
            scale = math.sqrt(float(np.sum(self._s2[:k])) * y2)
        else:
            rhs = Y.T @ g
            scale = y2
        G = self._G[:k, :k] + (self.reg * scale + 1e-300) * np.eye(k)
        try:
            gamma = np.linalg.solve(G, _host(rhs))
        except np.linalg.LinAlgError:
            self.reset()
            return None
        weight_norm = float(np.linalg.norm(gamma))
        if not (math.isfinite(weight_norm) and weight_norm < _MAX_WEIGHT_NORM):
            self.reset()
            return None
        gam = xp.asarray(gamma)
        out = Y @ gam
        out -= S @ gam
        out += tw
        return out


def _host(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)
