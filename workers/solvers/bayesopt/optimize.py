r"""Maximisation of an acquisition function over a mixed search space.

1. **Raw samples**: ``n_raw`` scrambled Sobol points (one coordinate per parameter, mapped by
   :meth:`Space.from_unit`, so integers and choices are sampled uniformly), plus ``n_local``
   perturbations of the *anchors* (the best observed points): Gaussian steps of standard deviation
   0.002, 0.01 or 0.05 on the numeric coordinates (reflected at the faces of the cube) and, with
   probability ``1/n_params``, a random choice per categorical. Local candidates matter most late
   in a study, when the maximiser of EI is a small step from the incumbent that uniform samples
   almost never hit. All are scored in one vectorised call.
2. **Starts**: the best ``n_starts // 2`` raw points, plus as many drawn from the rest with
   probabilities :math:`\propto \exp(z)` (:math:`z` the standardised acquisition value), so that
   not every start sits in the same basin.
3. **Continuous ascent**: one L-BFGS-B run on the sum of the acquisition over all starts (the
   starts do not interact, so the gradient is block-separable and one scipy call serves all),
   with analytic gradients, over the float and (relaxed) int coordinates; categoricals stay at
   their start's choice.
4. **Discrete polish** (spaces with ints or categoricals): round to canonical points, then
   best-improvement local search over the discrete neighbours (each int one step, each
   categorical switched), then, in mixed spaces, another continuous ascent of the floats with the
   discrete coordinates fixed.
5. The result is the best-scoring canonical point, among the optimised points and all raw
   samples, whose :meth:`Space.key` is not excluded (observed, pending, failed, or already chosen
   in the batch).

Finite spaces with at most ``enumerate_limit`` points are instead scored exhaustively.

Everything random comes from the caller's generator, so a fixed seed gives a fixed result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from workers.solvers.bayesopt.space import Space

__all__ = ["AcquisitionFn", "Maximum", "maximize_acquisition"]

AcquisitionFn = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]
_LOCAL_SCALES = (0.002, 0.01, 0.05)
_LOCAL_SEARCH_ROUNDS = 25


@dataclass(frozen=True)
class Maximum:
    """A maximiser found: the canonical encoded point, its value and where it came from."""

    u: np.ndarray
    value: float
    source: str  # "optimised", "raw" or "enumerated"


def _sobol(dim: int, n: int, rng: np.random.Generator) -> np.ndarray:
    m = max(int(math.ceil(math.log2(max(n, 2)))), 1)
    seed = int(rng.integers(2**63 - 1))
    return qmc.Sobol(dim, scramble=True, seed=seed).random_base2(m)[:n]


def _local_candidates(
    space: Space, anchors: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    if n <= 0 or anchors.shape[0] == 0:
        return np.zeros((0, space.dim))
    idx = np.arange(n) % anchors.shape[0]
    U = anchors[idx].copy()
    numeric = np.concatenate([space.float_dims, space.int_dims])
    scales = np.array(_LOCAL_SCALES)[rng.integers(len(_LOCAL_SCALES), size=n)]
    if numeric.size:
        V = U[:, numeric] + scales[:, None] * rng.standard_normal((n, numeric.size))
        # Reflect at the faces rather than clip: clipping piles candidates onto the boundary,
        # where EI, whose variance is largest there, then keeps them.
        V = np.abs(V)
        V = 1.0 - np.abs(1.0 - V)
        U[:, numeric] = V
    if space.cat_dims.size:
        p_switch = 1.0 / len(space.params)
        for s in space._slots:  # noqa: SLF001 - same package
            if s.param.type != "categorical":
                continue
            switch = rng.random(n) < p_switch
            block = U[switch, s.start : s.start + s.width]
            block[:] = 0.0
            block[np.arange(block.shape[0]), rng.integers(s.width, size=block.shape[0])] = 1.0
            U[switch, s.start : s.start + s.width] = block
    return space.snap(U)


def _ascend(acq: AcquisitionFn, U0: np.ndarray, free: np.ndarray, maxiter: int) -> np.ndarray:
    """Joint L-BFGS-B over the ``free`` coordinates of all rows of ``U0`` (others held)."""
    if free.size == 0 or U0.shape[0] == 0:
        return U0.copy()
    k = U0.shape[0]
    base = U0.copy()

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        U = base.copy()
        U[:, free] = z.reshape(k, free.size)
        vals, grads = acq(U, True)
        assert grads is not None
        bad = ~np.isfinite(vals)
        if bad.any():  # never expected (every term is finite); keep L-BFGS-B away from them
            vals = np.where(bad, -1e30, vals)
            grads = np.where(bad[:, None], 0.0, grads)
        return -float(vals.sum()), -grads[:, free].ravel()

    res = minimize(
        fun,
        base[:, free].ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (k * free.size),
        options={"maxiter": maxiter},
    )
    out = base.copy()
    out[:, free] = np.clip(res.x.reshape(k, free.size), 0.0, 1.0)
    return out


def _choose_starts(values: np.ndarray, n_starts: int, rng: np.random.Generator) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size <= n_starts:
        return finite
    order = finite[np.argsort(-values[finite], kind="stable")]
    n_top = max(1, n_starts // 2)
    top, rest = order[:n_top], order[n_top:]
    z = values[rest]
    sd = float(np.std(z))
    logits = (z - z.max()) / (sd if sd > 0 else 1.0)
    p = np.exp(logits)
    p /= p.sum()
    extra = rng.choice(rest, size=n_starts - n_top, replace=False, p=p)
    return np.concatenate([top, extra])


def _local_search(
    acq: AcquisitionFn,
    space: Space,
    u: np.ndarray,
    value: float,
    excluded: Callable[[np.ndarray], bool],
) -> tuple[np.ndarray, float]:
    """Best-improvement moves over discrete neighbours; an excluded start must move."""
    current, current_val = u, value if not excluded(u) else -math.inf
    for _ in range(_LOCAL_SEARCH_ROUNDS):
        nb = space.neighbours(current)
        if nb.shape[0] == 0:
            break
        vals = acq(nb, False)[0]
        moved = False
        for j in np.argsort(-vals, kind="stable"):
            if not vals[j] > current_val:
                break
            if not excluded(nb[j]):
                current, current_val, moved = nb[j], float(vals[j]), True
                break
        if not moved:
            break
    return current, current_val


def maximize_acquisition(
    acq: AcquisitionFn,
    space: Space,
    rng: np.random.Generator,
    *,
    exclude: Collection[tuple[Any, ...]] = (),
    anchors: np.ndarray | None = None,
    n_raw: int = 1024,
    n_local: int = 256,
    n_starts: int = 8,
    maxiter: int = 200,
    enumerate_limit: int = 4096,
) -> Maximum | None:
    """The best non-excluded canonical point found, or ``None`` if every candidate is excluded.

    Parameters
    ----------
    acq
        ``acq(U, grad) -> (values (N,), grads (N, D) or None)``, to be maximised.
    space
        The search space; points are canonical encodings.
    rng
        Source of all randomness (Sobol scrambling, perturbations, start sampling).
    exclude
        Keys (:meth:`Space.key`) that must not be returned.
    anchors : array, shape (m, D), optional
        Canonical points to perturb for local candidates (typically the best observed ones).
    """
    keyset = set(exclude)

    def excluded(u: np.ndarray) -> bool:
        return space.key_of(u) in keyset

    card = space.cardinality()
    if card is not None and card <= enumerate_limit:
        U = space.enumerate_all()
        vals = acq(U, False)[0]
        for j in np.argsort(-vals, kind="stable"):
            if not excluded(U[j]):
                return Maximum(U[j].copy(), float(vals[j]), "enumerated")
        return None

    raw = space.from_unit(_sobol(len(space.params), n_raw, rng))
    if anchors is not None and anchors.shape[0]:
        raw = np.vstack([raw, _local_candidates(space, anchors, n_local, rng)])
    raw_vals = acq(raw, False)[0]
    starts = _choose_starts(raw_vals, n_starts, rng)

    free = np.sort(np.concatenate([space.float_dims, space.int_dims]))
    X = _ascend(acq, raw[starts], free, maxiter)
    X = space.snap(X)
    vals = acq(X, False)[0]
    discrete = space.int_dims.size + space.cat_dims.size > 0
    if discrete:
        for i in range(X.shape[0]):
            X[i], vals[i] = _local_search(acq, space, X[i], float(vals[i]), excluded)
        if space.float_dims.size and X.shape[0]:
            X = space.snap(_ascend(acq, X, space.float_dims, maxiter))
            vals = acq(X, False)[0]

    cands = np.vstack([X, raw])
    cvals = np.concatenate([vals, raw_vals])
    n_opt = X.shape[0]
    for j in np.argsort(-np.where(np.isfinite(cvals), cvals, -np.inf), kind="stable"):
        if not excluded(cands[j]):
            return Maximum(cands[j].copy(), float(cvals[j]), "optimised" if j < n_opt else "raw")
    return None
