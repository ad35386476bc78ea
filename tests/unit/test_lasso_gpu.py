"""The lasso solver on cupy gives the numpy answer (skipped without cupy and a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.factories import lasso_data
from workers.solvers.backend import gpu_available
from workers.solvers.lasso import solve_lasso

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device"),
]


@pytest.mark.parametrize(("m", "n", "seed"), [(60, 30, 0), (40, 200, 1), (300, 100, 2)])
def test_cupy_matches_numpy(m: int, n: int, seed: int) -> None:
    import cupy

    d = lasso_data(m, n, seed, lam_frac=0.05)
    cpu = solve_lasso(d["A"], d["b"], d["lam"], tol=1e-10)
    gpu = solve_lasso(cupy.asarray(d["A"]), cupy.asarray(d["b"]), d["lam"], tol=1e-10)
    assert gpu.converged and cpu.converged
    assert type(gpu.solution["x"]).__module__.startswith("cupy")
    assert gpu.objective == pytest.approx(cpu.objective, rel=1e-8)
    np.testing.assert_allclose(gpu.solution["x"].get(), cpu.solution["x"], atol=1e-6)
