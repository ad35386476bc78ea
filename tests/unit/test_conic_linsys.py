"""The conic solver's linear system and equilibration on sparse data
(workers/solvers/conic/linsys.py, scaling.py): the entrywise solve of a diagonal reduced
matrix, and the compiled Ruiz passes against the array-module ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from workers.solvers.conic.cones import ConeSpec
from workers.solvers.conic.linsys import LinearSystem
from workers.solvers.conic.scaling import cone_blocks, equilibrate, equilibrate_xp


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


def _equilibration_case(seed: int, with_p: bool):
    rng = np.random.default_rng(seed)
    cones = ConeSpec(z=5, l=300, q=(4, 6, 10), s=(3,), ep=2)
    m, n = cones.size(), 250
    A = sp.random(m, n, density=0.03, random_state=seed, format="csc")
    A.data = rng.standard_normal(A.nnz) * np.exp(rng.uniform(-4, 4, A.nnz))
    P = None
    if with_p:
        G = sp.random(n, n, density=0.02, random_state=seed + 10)
        P = (G @ G.T * 3.0 + sp.identity(n) * 1e-3).tocsc()
    b = rng.standard_normal(m) * 10.0
    c = rng.standard_normal(n) * 0.1
    return A, P, b, c, cones


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_p", [False, True])
@pytest.mark.parametrize("dense", [False, True])
def test_compiled_equilibration_matches_the_array_module_passes(
    seed: int, with_p: bool, dense: bool
) -> None:
    """The host's compiled passes (CSC or dense, with or without ``P``) give the factors and
    scaled data of the array-module passes that serve the GPU, to rounding: orthant rows scaled
    one by one, cone blocks pooled, ``P``'s columns counted in."""
    A, P, b, c, cones = _equilibration_case(seed, with_p)
    data_in = A.data.copy()
    Ain: Any = A.toarray() if dense else A
    Pin: Any = None if P is None else (P.toarray() if dense else P)
    sc, As, Ps, bs, cs = equilibrate(Ain, Pin, b, c, cones)
    assert np.array_equal(A.data, data_in)  # scaled in a copy
    assert sp.issparse(As) != dense  # sparse stays sparse (m * n > 50,000 and 3% dense)
    free, blocks = cone_blocks(cones)
    ref = equilibrate_xp(A.toarray(), None if P is None else P.toarray(), b, c, free, blocks)
    sc_r, As_r, Ps_r, bs_r, cs_r = ref
    assert np.allclose(sc.D, sc_r.D, rtol=1e-12, atol=0.0)
    assert np.allclose(sc.E, sc_r.E, rtol=1e-12, atol=0.0)
    assert sc.sigma == pytest.approx(sc_r.sigma, rel=1e-12)
    dense_As = As.toarray() if sp.issparse(As) else As
    assert np.allclose(dense_As, As_r, rtol=1e-12, atol=0.0)
    assert np.allclose(bs, bs_r, rtol=1e-12, atol=0.0) and np.allclose(cs, cs_r, rtol=1e-12)
    if P is not None:
        dense_Ps = Ps.toarray() if sp.issparse(Ps) else Ps
        assert np.allclose(dense_Ps, Ps_r, rtol=1e-12, atol=0.0)
    # the factors are not trivial, and constant on every cone block
    assert np.ptp(np.log(sc.D)) > 1.0 and np.ptp(np.log(sc.E)) > 1.0
    for start, stop in blocks:
        assert np.ptp(sc.D[start:stop]) == 0.0
