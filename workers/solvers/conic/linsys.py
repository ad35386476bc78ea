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
    Dense rows of ``A`` (e.g. a budget constraint ``1^T x = 1``) are left out of ``M`` and added
    back by the Sherman-Morrison-Woodbury formula, one extra ``O(n k)`` product per solve for
    ``k`` dense rows. A diagonal ``M`` (no row of ``A`` shared by two variables, as in robust
    PCA's orthant form) is not factored: a solve is an entrywise product.
``kkt``
    ``M`` would fill in although the KKT matrix is sparse: SuperLU on the quasi-definite KKT
    matrix itself (threshold pivoting keeps it stable).

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

from workers.solvers.backend import array_namespace

__all__ = ["LinearSystem", "Operator", "prefers_dense"]

# Largest n for the dense back end, and the density of the reduced matrix above which a sparse
# problem is still factored densely (a dense Cholesky of a 3000 x 3000 matrix takes ~0.3 s).
_DENSE_MAX_N = 3000
_DENSE_MIN_DENSITY = 0.2
# Use the KKT back end when the reduced matrix has this many times more nonzeros than the KKT one.
_KKT_FILL_RATIO = 4.0
# Rows of A with more nonzeros than this (and than _DENSE_ROW_FRACTION * n) are "dense": their
# rank-one terms a_i a_i^T / r_i would fill the reduced matrix, so the sparse back end leaves them
# out of the factorisation and adds them back by the Sherman-Morrison-Woodbury formula.
_DENSE_ROW_MIN = 50
_DENSE_ROW_FRACTION = 0.05
_DENSE_ROW_MAX_COUNT = 200
# Refine every solve when a probe solve leaves a relative residual above this.
_REFINE_TOL = 1e-10


# A sparse matrix is multiplied as a dense one when it is this dense or this small: a BLAS gemv
# beats scipy.sparse's per-call overhead (~5-10 us) and its indirect addressing there.
_DENSE_PRODUCT_DENSITY = 0.15
_DENSE_PRODUCT_SIZE = 50_000


def prefers_dense(M: Any) -> bool:
    """Whether a scipy.sparse matrix is small or dense enough to be handled as a dense array
    (for products, equilibration and the factorisation)."""
    if not sp.issparse(M):
        return False
    m, n = M.shape
    dense_ish = M.nnz >= _DENSE_PRODUCT_DENSITY * m * n or m * n <= _DENSE_PRODUCT_SIZE
    return bool(dense_ish and n <= _DENSE_MAX_N)


class Operator:
    """Products ``M @ x`` and ``M.T @ y`` with a fixed matrix, set up once.

    ``scipy.sparse`` builds a new object for every ``M.T``; here the transpose is stored (CSR),
    and small or dense-ish sparse matrices are converted to a dense array.
    """

    def __init__(self, M: Any) -> None:
        self.shape = M.shape
        if sp.issparse(M):
            if prefers_dense(M):
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
        self._dense_rows = np.zeros(0, dtype=np.int64)
        self.backend = self._choose_backend()
        self.factorizations = 0
        self.refine = False
        self._kkt_csc: Any = None
        self._lu: Any = None
        self._inv_diag = np.zeros(0)
        self._wb: tuple[np.ndarray, np.ndarray, Any] | None = None
        self.factor(r_y)

    # --- setup ----------------
    def _choose_backend(self) -> str:
        self._dense_rows = np.zeros(0, dtype=np.int64)
        if not self.sparse_input:
            return "dense"
        A = self.A
        n = self.n
        if n <= 200:
            return "dense"
        row_nnz = np.diff(A.tocsr().indptr).astype(np.float64)
        dense = row_nnz > max(_DENSE_ROW_MIN, _DENSE_ROW_FRACTION * n)
        if 0 < int(dense.sum()) <= _DENSE_ROW_MAX_COUNT:
            self._dense_rows = np.flatnonzero(dense)
            row_nnz = row_nnz[~dense]
        # nnz of A^T A: sum over rows of (row nnz)^2 bounds it (exact without cancellation).
        reduced_nnz = min(float(np.sum(row_nnz**2)), float(n) * n)
        if self.P is not None:
            reduced_nnz += self.P.nnz
        if n <= _DENSE_MAX_N and reduced_nnz >= _DENSE_MIN_DENSITY * n * n:
            self._dense_rows = np.zeros(0, dtype=np.int64)
            return "dense"
        kkt_nnz = 2.0 * A.nnz + (self.P.nnz if self.P is not None else 0) + n + self.m
        if reduced_nnz > _KKT_FILL_RATIO * kkt_nnz:
            self._dense_rows = np.zeros(0, dtype=np.int64)
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
            weights = np.asarray(self.inv_r_y, dtype=np.float64).copy()
            weights[self._dense_rows] = 0.0  # added back by Woodbury (see _sparse_solve)
            # A^T diag(w) A as one product with the rows of a copy of A scaled in place (half
            # the time of the three-factor product on robust PCA m = 60)
            WA = sp.csc_matrix(self.A, dtype=np.float64, copy=True)
            WA.data *= weights[WA.indices]
            AT = self.Aop.MT if sp.issparse(self.Aop.MT) else self.A.T
            M = sp.csc_matrix(AT @ WA) + self.rho_x * sp.identity(self.n, format="csc")
            if self.P is not None:
                M = M + self.P
            self._factor_sparse(sp.csc_matrix(M))
            self._woodbury()
        else:
            top = self.rho_x * sp.identity(self.n)
            if self.P is not None:
                top = top + self.P
            K = sp.bmat([[top, self.A.T], [self.A, -sp.diags(np.asarray(r_y))]], format="csc")
            self._kkt_csc = K
            self._lu = spla.splu(K, permc_spec="MMD_AT_PLUS_A")
        self.refine = False
        # an entrywise solve (a diagonal reduced matrix, no dense rows) is not probed: its
        # probe measured relative KKT residuals of 2e-15 to 2e-12 (robust PCA, max-cut; r_y
        # from 1e-3 to 1e3), far below the 1e-10 that turns refinement on, at ~0.14 ms a probe
        entrywise = self.backend == "sparse" and self._lu is None and self._wb is None
        if not entrywise:
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
        """SuperLU without pivoting on the SPD reduced matrix (minimum-degree ordering on
        ``M + M^T``).

        ``relax=1`` turns off SuperLU's relaxed supernodes: they merge small columns into dense
        blocks, which speeds up a factorisation but slowed our repeated triangular solves up to
        10x on matrices with little fill (robust PCA: 2 x 2 blocks, 1.0 ms -> 0.3 ms per solve
        for n = 10^4). Here one factorisation serves hundreds of solves.
        """
        M.sum_duplicates()
        cols = np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))
        if not np.any((M.indices != cols) & (M.data != 0.0)):
            # every variable has rows of its own (robust PCA): a solve is an entrywise product,
            # ~2 instead of ~25 microseconds through SuperLU at n = 3600
            self._lu = None
            self._inv_diag = 1.0 / M.diagonal()
            return
        self._lu = spla.splu(
            M,
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            relax=1,
            options={"SymmetricMode": True},
        )

    def _woodbury(self) -> None:
        """Precompute the dense-row correction: ``W = M_s^{-1} U`` with ``U = A_d^T`` (the
        dense rows) and the Cholesky factor of ``diag(r_d) + U^T W``."""
        if self._dense_rows.size == 0:
            self._wb = None
            return
        U = np.asarray(self.A[self._dense_rows].toarray().T)  # (n, k)
        W = self._lu_solve(U)
        cap = np.diag(np.asarray(self.r_y)[self._dense_rows]) + U.T @ W
        self._wb = (U, W, sla.cho_factor(cap, lower=False, check_finite=False))

    def _lu_solve(self, rhs: np.ndarray) -> np.ndarray:
        """``M_s^{-1} rhs`` for a vector or the columns of a matrix."""
        if self._lu is None:
            return rhs * (self._inv_diag if rhs.ndim == 1 else self._inv_diag[:, None])
        return np.asarray(self._lu.solve(rhs))

    def _sparse_solve(self, rhs: np.ndarray) -> np.ndarray:
        x = self._lu_solve(rhs)
        if self._wb is not None:
            U, W, cap = self._wb
            x = x - W @ sla.cho_solve(cap, U.T @ x, check_finite=False)
        return x

    def _factor_dense(self) -> None:
        xp = self.xp
        A = self.A
        if self.sparse_input and not isinstance(self.Aop.M, np.ndarray):
            M = (A.T @ sp.diags(np.asarray(self.inv_r_y)) @ A).toarray()
            if self.P is not None:
                M += self.P.toarray()
        elif self.sparse_input:  # the operator holds A densely: one BLAS product
            Ad = self.Aop.M
            M = Ad.T @ (self.inv_r_y[:, None] * Ad)
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

    def solve_dr(self, w: Any) -> Any:
        """The solve of one SCS iteration: right-hand side ``(rho_x w_x, -r_y w_y)`` for
        ``w = (w_x, w_y)``; returns ``(x, y)`` stacked in one array.

        For the reduced back ends this needs no division: ``x = M^{-1} (rho_x w_x - A^T w_y)``
        and ``y = A x / r_y + w_y``.
        """
        xp = self.xp
        n = self.n
        wx, wy = w[:n], w[n:]
        out = xp.empty(n + self.m)
        if self.refine or self.backend == "kkt":
            x, y = self.solve(self.rho_x * wx, -(self.r_y * wy))
            out[:n] = x
            out[n:] = y
            return out
        rhs = self.rho_x * wx - self.Aop.rmv(wy)
        x = self._minv @ rhs if self.backend == "dense" else self._sparse_solve(rhs)
        out[:n] = x
        out[n:] = self.Aop.mv(x) * self.inv_r_y + wy
        return out

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
