"""Anderson acceleration of the conic solver (workers/solvers/conic/anderson.py): the restart."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from workers.solvers.conic import scs
from workers.solvers.conic.anderson import Anderson
from workers.solvers.conic.scs import solve_conic
from workers.solvers.conic.templates import robust_pca
from workers.solvers.result import SolverStatus


def _pair(g: float, at: float) -> tuple[np.ndarray, np.ndarray]:
    """A point ``w`` and ``T(w)`` whose residual ``w - T(w)`` has norm ``g``."""
    w = np.array([at, 1.0 + at, -at])
    return w, w - np.array([g, 0.0, 0.0])


@pytest.mark.parametrize("type1", [True, False])
def test_a_rising_residual_restarts_the_memory(type1: bool) -> None:
    aa = Anderson(5, type1=type1)
    assert aa.step(*_pair(1.0, 0.0), np) is None  # nothing to extrapolate from yet
    assert aa.step(*_pair(0.5, 0.3), np) is not None
    assert aa.step(*_pair(0.7, 0.5), np) is None  # above the best (0.5): a fresh memory
    assert aa.restarts == 1
    # the best is measured from the restart on: 0.7 is the reference now
    assert aa.step(*_pair(0.6, 0.6), np) is not None
    assert aa.restarts == 1


def test_restart_off_keeps_the_memory() -> None:
    aa = Anderson(5, type1=False, restart_factor=math.inf)
    for g, at in ((1.0, 0.0), (0.5, 0.3)):
        aa.step(*_pair(g, at), np)
    assert aa.step(*_pair(0.7, 0.5), np) is not None
    assert aa.restarts == 0


def _robust_pca_60(seed: int) -> tuple[object, ...]:
    """The cones benchmark's smallest robust PCA: 60 x 30, rank 10, 5% gross errors."""
    rng = np.random.default_rng(seed)
    L0 = rng.standard_normal((60, 10)) @ rng.standard_normal((30, 10)).T / math.sqrt(10)
    S0 = np.where(rng.random((60, 30)) < 0.05, rng.uniform(-5.0, 5.0, (60, 30)), 0.0)
    return robust_pca(L0 + S0, lam=1.0 / math.sqrt(60))[:4]


def test_restarts_shorten_the_robust_pca_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepted Anderson steps can leave the residual rising for tens of iterations here;
    restarting the memory then saves iterations over six seeds: measured 1390 against 2020 (31%);
    two of the seeds never restart and are unchanged. The bound asks for 15%, leaving room for
    another BLAS to round differently and move individual counts."""
    with_restart, without, restarts = [], [], 0
    for seed in range(6):
        A, b, c, K = _robust_pca_60(seed)
        res = solve_conic(A, b, c, K, eps_abs=1e-4, eps_rel=1e-4)
        assert res.status is SolverStatus.CONVERGED
        with_restart.append(res.iterations)
        restarts += res.info["aa_restarts"]
        with monkeypatch.context() as m:
            m.setattr(scs, "Anderson", functools.partial(Anderson, restart_factor=math.inf))
            res = solve_conic(A, b, c, K, eps_abs=1e-4, eps_rel=1e-4)
        assert res.status is SolverStatus.CONVERGED and res.info["aa_restarts"] == 0
        without.append(res.iterations)
    assert restarts > 0
    assert sum(with_restart) <= 0.85 * sum(without), (with_restart, without)


def _reference_step(
    pairs: list[tuple[np.ndarray, np.ndarray]], mem: int, type1: bool, reg: float
) -> np.ndarray:
    """The Anderson point from scratch: the last ``mem`` differences, the normal equations
    formed in full (what the class keeps up to date one column at a time)."""
    ws = [w for w, _ in pairs]
    gs = [w - tw for w, tw in pairs]
    S = np.column_stack([ws[i + 1] - ws[i] for i in range(len(ws) - 1)][-mem:])
    Y = np.column_stack([gs[i + 1] - gs[i] for i in range(len(gs) - 1)][-mem:])
    g = gs[-1]
    if type1:
        G, rhs = S.T @ Y, S.T @ g
        scale = math.sqrt(np.sum(S * S) * np.sum(Y * Y))
    else:
        G, rhs = Y.T @ Y, Y.T @ g
        scale = np.sum(Y * Y)
    gamma = np.linalg.solve(G + (reg * scale + 1e-300) * np.eye(G.shape[0]), rhs)
    return pairs[-1][1] - (S - Y) @ gamma


@pytest.mark.parametrize("type1", [True, False])
def test_step_matches_the_normal_equations_formed_in_full(type1: bool) -> None:
    """Past the memory length the ring overwrites its oldest column; the kept matrix must still
    equal the one formed from the last ``mem`` differences."""
    rng = np.random.default_rng(3)
    mem, reg, N = 4, 1e-8, 50
    M = rng.standard_normal((N, N)) / (2 * math.sqrt(N))  # a contraction T(w) = M w + q
    q = rng.standard_normal(N)
    aa = Anderson(mem, type1=type1, regularization=reg, restart_factor=math.inf)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    w = rng.standard_normal(N)
    for k in range(11):
        pair = (w, M @ w + q)
        pairs.append(pair)
        out = aa.step(*pair, np)
        if k == 0:
            assert out is None
            w = pair[1]
            continue
        assert out is not None
        ref = _reference_step(pairs, mem, type1, reg)
        assert np.allclose(out, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
        # move on from a point off the plain path, as the solver does after a rejected step
        w = 0.5 * (out + pair[1]) + 0.01 * rng.standard_normal(N)
