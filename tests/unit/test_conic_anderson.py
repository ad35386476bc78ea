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
