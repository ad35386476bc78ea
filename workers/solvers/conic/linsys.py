r"""The one linear system of SCS, factored once and reused every iteration.

Each SCS iteration solves the quasi-definite system

.. math::

    \begin{bmatrix} P + \rho_x I & A^T \\ A & -\operatorname{diag}(r_y) \end{bmatrix}
    \begin{bmatrix} x \\ y \end{bmatrix} = \begin{bmatrix} f \\ g \end{bmatrix}

with ``rho_x > 0`` and ``r_y > 0``. Eliminating ``y = (A x - g) / r_y`` leaves the symmetric
positive definite *reduced* system

.. math::

    (P + \rho_x I + A^T \operatorname{diag}(r_y)^{-1} A)\, x = f + A^T (g / r_y),

which is what is factored here, by one of three back ends chosen from the size and density of the
reduced matrix ``M``:

``dense``
    ``M`` is formed densely and inverted once through its Cholesky factor; a solve is then one
    matrix-vector product, which also runs on a GPU when the data are cupy arrays.
``sparse``
    ``M`` is sparse: SuperLU (``scipy.sparse.linalg.splu``) with a symmetric fill-reducing
    ordering and no pivoting (``M`` is positive definite, so the diagonal pivots are safe).
``kkt``
    ``A`` has dense rows, so ``M`` would fill in although the KKT matrix is sparse: SuperLU on the
    quasi-definite KKT matrix itself (threshold pivoting keeps it stable).

A change of ``r_y`` (SCS's adaptive ``scale``) refactors. After each factorisation one probe
solve measures the relative residual of the full KKT system; when it exceeds ``1e-10`` every
solve gets one step of iterative refinement on the KKT system (the reduced matrix can have
condition number ``~ ||A||^2 / (min r_y rho_x)``, easily 1e10, and an inexact solve stalls SCS
short of high accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import reverse_cuthill_mckee

from workers.solvers.backend import array_namespace

__all__ = ["LinearSystem", "Operator"]

# Largest n for the dense back end, and the density of the reduced matrix above which a sparse
# problem is still factored densely (a dense Cholesky of a 3000 x 3000 matrix takes ~0.3 s).
_DENSE_MAX_N = 3000
_DENSE_MIN_DENSITY = 0.2
# Use the KKT back end when the reduced matrix has this many times more nonzeros than the KKT one.
_KKT_FILL_RATIO = 4.0
# Refine every solve when a probe solve leaves a relative residual above this.
_REFINE_TOL = 1e-10


# A sparse matrix is multiplied as a dense one when it is this dense or this small: a BLAS gemv
# beats scipy.sparse's per-call overhead (~5-10 us) and its indirect addressing there.
_DENSE_PRODUCT_DENSITY = 0.15
_DENSE_PRODUCT_SIZE = 50_000


class Operator:
    """Products ``M @ x`` and ``M.T @ y`` with a fixed matrix, set up once.

    ``scipy.sparse`` builds a new object for every ``M.T``; here the transpose is stored (CSR),
    and small or dense-ish sparse matrices are converted to a dense array.
    """

    def __init__(self, M: Any) -> None:
        self.shape = M.shape
        if sp.issparse(M):
            m, n = M.shape
            if M.nnz >= _DENSE_PRODUCT_DENSITY * m * n or m * n <= _DENSE_PRODUCT_SIZE:
                self.M = np.ascontiguousarray(M.toarray())
                self.MT = self.M.T
            else:
                self.M = M.tocsr()
                self.MT = M.T.tocsr()
        else:
            self.M = M
            self.MT = M.T

    def mv(self, x: Any) -> Any:
        return self.M @ x

    def rmv(self, y: Any) -> Any:
        return self.MT @ y


class LinearSystem:
    """Factorisation of the SCS linear system for fixed ``rho_x`` and ``r_y``.

    Parameters
    ----------
    A : (m, n) scipy.sparse matrix or dense array (numpy or cupy)
    P : (n, n) same kind as ``A`` (symmetric positive semidefinite), or ``None``
    rho_x : float
    r_y : (m,) array of positive numbers
    """

    def __init__(self, A: Any, P: Any, rho_x: float, r_y: Any) -> None:
        self.sparse_input = sp.issparse(A)
        self.xp = np if self.sparse_input else array_namespace(A)
        self.A = A
        self.P = P
        self.Aop = Operator(A)
        self.Pop = None if P is None else Operator(P)
        self.m, self.n = A.shape
        self.rho_x = float(rho_x)
        self.backend = self._choose_backend()
        self.factorizations = 0
        self.refine = False
        self._perm: np.ndarray | None = None
        self._order_chosen = False
        self._kkt_csc: Any = None
        self.factor(r_y)

    # --- setup ----------------
    def _choose_backend(self) -> str:
        if not self.sparse_input:
            return "dense"
        A = self.A
        n = self.n
        if n <= 200:
            return "dense"
        # nnz of A^T A: sum over rows of (row nnz)^2 bounds it (exact without cancellation).
        row_nnz = np.diff(A.tocsr().indptr).astype(np.float64)
        reduced_nnz = min(float(np.sum(row_nnz**2)), float(n) * n)
        if self.P is not None:
            reduced_nnz += self.P.nnz
        if n <= _DENSE_MAX_N and reduced_nnz >= _DENSE_MIN_DENSITY * n * n:
            return "dense"
        kkt_nnz = 2.0 * A.nnz + (self.P.nnz if self.P is not None else 0) + n + self.m
        if reduced_nnz > _KKT_FILL_RATIO * kkt_nnz:
            return "kkt"
        return "sparse"

    def factor(self, r_y: Any) -> None:
        """(Re)factor for new ``r_y``."""
        self.r_y = r_y
        self.inv_r_y = 1.0 / r_y
        self.factorizations += 1
        if self.backend == "dense":
            self._factor_dense()
        elif self.backend == "sparse":
            A = self.A
            M = A.T @ sp.diags(np.asarray(self.inv_r_y)) @ A + self.rho_x * sp.identity(self.n)
            if self.P is not None:
                M = M + self.P
            self._factor_sparse(sp.csc_matrix(M))
        else:
            top = self.rho_x * sp.identity(self.n)
            if self.P is not None:
                top = top + self.P
            K = sp.bmat([[top, self.A.T], [self.A, -sp.diags(np.asarray(r_y))]], format="csc")
            self._kkt_csc = K
            self._lu = spla.splu(K, permc_spec="MMD_AT_PLUS_A")
        self.refine = False
        self.refine = self._probe_error() > _REFINE_TOL

    def _probe_error(self) -> float:
        """Relative KKT residual of one unrefined solve with a fixed pseudo-random right-hand
        side: decides whether every solve gets a refinement step."""
        xp = self.xp
        f = xp.cos(xp.arange(self.n, dtype=np.float64) * 1.3)
        g = xp.sin(xp.arange(self.m, dtype=np.float64) * 0.7 + 0.1)
        x, y = self._solve_once(f, g)
        rf, rg = self._residual(x, y, f, g)
        num = max(float(xp.max(xp.abs(rf))), float(xp.max(xp.abs(rg))) if self.m else 0.0)
        if not np.isfinite(num):
            return float("inf")
        return num / max(float(xp.max(xp.abs(f))), float(xp.max(xp.abs(g))) if self.m else 0.0)

    def _factor_sparse(self, M: sp.csc_matrix) -> None:
        """SuperLU without pivoting on the SPD reduced matrix, in the better of two orderings.

        SuperLU's minimum-degree ordering minimises fill, but on matrices whose factor has
        almost no fill anyway (e.g. robust PCA: 2 x 2 blocks) its triangular solves measured
        15x slower than with a banded (reverse Cuthill-McKee) order, for scattered access. The
        first factorisation tries both when the banded one cannot fill in much, and keeps the
        banded order when its factor is at most 1.5x larger; refactorisations reuse the choice.
        """
        opts = {"SymmetricMode": True}
        if self._perm is None and not self._order_chosen:
            self._order_chosen = True
            lu = spla.splu(M, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=opts)
            fill = lu.L.nnz + lu.U.nnz
            perm = reverse_cuthill_mckee(M, symmetric_mode=True)
            Mp = M[perm][:, perm].tocoo()
            band = int(np.max(np.abs(Mp.row - Mp.col))) if Mp.nnz else 0
            if (band + 1) * self.n <= 4 * fill:
                lu_band = spla.splu(
                    Mp.tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0, options=opts
                )
                if lu_band.L.nnz + lu_band.U.nnz <= 1.5 * fill:
                    self._perm = perm
                    self._lu = lu_band
                    return
            self._lu = lu
            return
        if self._perm is not None:
            Mp = M[self._perm][:, self._perm].tocsc()
            self._lu = spla.splu(Mp, permc_spec="NATURAL", diag_pivot_thresh=0.0, options=opts)
        else:
            self._lu = spla.splu(M, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=opts)

    def _sparse_solve(self, rhs: np.ndarray) -> np.ndarray:
        if self._perm is None:
            return self._lu.solve(rhs)
        out = np.empty_like(rhs)
        out[self._perm] = self._lu.solve(rhs[self._perm])
        return out

    def _factor_dense(self) -> None:
        xp = self.xp
        A = self.A
        if self.sparse_input:
            M = (A.T @ sp.diags(np.asarray(self.inv_r_y)) @ A).toarray()
            if self.P is not None:
                M += self.P.toarray()
        else:
            M = A.T @ (self.inv_r_y[:, None] * A)
            if self.P is not None:
                M = M + (self.P.toarray() if sp.issparse(self.P) else self.P)
        M[np.diag_indices(self.n)] += self.rho_x
        if xp is np:
            chol, lower = sla.cho_factor(M, lower=False, check_finite=False)
            self._minv = sla.cho_solve((chol, lower), np.eye(self.n), check_finite=False)
        else:
            L = xp.linalg.cholesky(M)
            Linv = _triangular_inverse(xp, L)
            self._minv = Linv.T @ Linv
        self._minv = 0.5 * (self._minv + self._minv.T)

    # --- solves ----------------
    def solve(self, f: Any, g: Any) -> tuple[Any, Any]:
        """Solve the KKT system for right-hand side ``(f, g)``; returns ``(x, y)``."""
        x, y = self._solve_once(f, g)
        if self.refine:
            rf, rg = self._residual(x, y, f, g)
            dx, dy = self._solve_once(rf, rg)
            x = x + dx
            y = y + dy
        return x, y

    def _solve_once(self, f: Any, g: Any) -> tuple[Any, Any]:
        Aop = self.Aop
        if self.backend == "kkt":
            sol = self._lu.solve(np.concatenate((np.asarray(f), np.asarray(g))))
            return sol[: self.n], sol[self.n :]
        gr = g * self.inv_r_y
        rhs = f + Aop.rmv(gr)
        x = self._minv @ rhs if self.backend == "dense" else self._sparse_solve(rhs)
        y = Aop.mv(x) * self.inv_r_y - gr
        return x, y

    def _residual(self, x: Any, y: Any, f: Any, g: Any) -> tuple[Any, Any]:
        rf = f - self.rho_x * x - self.Aop.rmv(y)
        if self.Pop is not None:
            rf = rf - self.Pop.mv(x)
        rg = g - self.Aop.mv(x) + self.r_y * y
        return rf, rg


def _triangular_inverse(xp: Any, L: Any) -> Any:
    """Inverse of a lower-triangular matrix (cupy path)."""
    from cupyx.scipy.linalg import solve_triangular  # type: ignore[import-not-found, unused-ignore]

    eye = xp.eye(L.shape[0], dtype=L.dtype)
    return solve_triangular(L, eye, lower=True)
