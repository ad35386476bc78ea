"""The conic solver's linear system and equilibration on sparse data
(workers/solvers/conic/linsys.py, scaling.py): the entrywise solve of a diagonal reduced
matrix, and the compiled sparse Ruiz passes against the dense ones."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from workers.solvers.conic.cones import ConeSpec
from workers.solvers.conic.linsys import LinearSystem
from workers.solvers.conic.scaling import equilibrate


def _kkt_solve(A: np.ndarray, rho_x: float, r_y: np.ndarray, f: np.ndarray, g: np.ndarray):
    m, n = A.shape
    K = np.block([[rho_x * np.eye(n), A.T], [A, -np.diag(r_y)]])
    sol = np.linalg.solve(K, np.concatenate((f, g)))
    return sol[:n], sol[n:]


@pytest.mark.parametrize("dense_row", [False, True])
def test_diagonal_reduced_matrix_is_solved_entrywise(dense_row: bool) -> None:
    """Two rows per variable and no row shared by two variables (robust PCA's orthant form):
    ``A^T R^-1 A`` is diagonal, so there is nothing to factor. With a budget row on top, that
    row goes through Woodbury and the rest stays diagonal."""
    rng = np.random.default_rng(5)
    n = 400
    blocks = [sp.diags(rng.uniform(0.5, 2.0, n)), sp.diags(rng.uniform(-2.0, -0.5, n))]
    if dense_row:
        blocks.insert(0, sp.csr_matrix(rng.uniform(0.5, 1.5, (1, n))))
    A = sp.vstack(blocks).tocsc()
    m = A.shape[0]
    r_y = rng.uniform(0.5, 3.0, m)
    lin = LinearSystem(A, None, 1e-6, r_y)
    assert lin.backend == "sparse"
    assert lin._lu is None  # no factorisation was made
    assert (lin._wb is not None) == dense_row
    f, g = rng.standard_normal(n), rng.standard_normal(m)
    x, y = lin.solve(f, g)
    xr, yr = _kkt_solve(A.toarray(), 1e-6, r_y, f, g)
    assert np.allclose(x, xr, rtol=1e-9, atol=1e-9 * np.abs(xr).max())
    assert np.allclose(y, yr, rtol=1e-9, atol=1e-9 * np.abs(yr).max())
    # the DR solve (right-hand side (rho_x w_x, -r_y w_y)) through the same route
    w = rng.standard_normal(n + m)
    xr, yr = _kkt_solve(A.toarray(), 1e-6, r_y, 1e-6 * w[:n], -r_y * w[n:])
    out = lin.solve_dr(w)
    assert np.allclose(out, np.concatenate((xr, yr)), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_equilibration_matches_the_dense_one(seed: int) -> None:
    """The compiled CSC passes give the factors of the numpy passes over the dense matrix
    (orthant rows scaled one by one, second-order cone blocks pooled), to rounding."""
    rng = np.random.default_rng(seed)
    cones = ConeSpec(z=5, l=300, q=(4, 6, 10))
    m, n = cones.size(), 250
    A = sp.random(m, n, density=0.03, random_state=seed, format="csc")
    A.data = rng.standard_normal(A.nnz) * np.exp(rng.uniform(-4, 4, A.nnz))
    b = rng.standard_normal(m) * 10.0
    c = rng.standard_normal(n) * 0.1
    data_in = A.data.copy()
    sc_s, As_s, _, bs_s, cs_s = equilibrate(A, None, b, c, cones)
    assert np.array_equal(A.data, data_in)  # scaled in a copy
    assert sp.issparse(As_s)  # took the sparse path (m * n > 50,000 and 3% dense)
    sc_d, As_d, _, bs_d, cs_d = equilibrate(A.toarray(), None, b, c, cones)
    assert np.allclose(sc_s.D, sc_d.D, rtol=1e-12)
    assert np.allclose(sc_s.E, sc_d.E, rtol=1e-12)
    assert sc_s.sigma == pytest.approx(sc_d.sigma, rel=1e-12)
    assert np.allclose(As_s.toarray(), As_d, rtol=1e-12, atol=0.0)
    assert np.allclose(bs_s, bs_d, rtol=1e-12) and np.allclose(cs_s, cs_d, rtol=1e-12)
