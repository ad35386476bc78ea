r"""Cone-aware equilibration of a conic program in SCS standard form.

The problem ``min c^T x + 1/2 x^T P x  s.t.  A x + s = b, s in K`` is replaced by the equivalent

.. math::

    \tilde A = D A E, \quad \tilde P = E P E, \quad
    \tilde b = \sigma D b, \quad \tilde c = \sigma E c,

with positive diagonal ``D`` (rows) and ``E`` (columns) and a scalar ``sigma``. Its solutions map
back by ``x = E x~ / sigma``, ``y = D y~ / sigma``, ``s = D^{-1} s~ / sigma``; this holds because
``D`` is a cone automorphism: it is constant on every cone block except the zero cone and the
nonnegative orthant (whose cones are invariant under any positive diagonal scaling).

The factors equilibrate the stacked operator of the homogeneous embedding,

.. math::

    \begin{bmatrix} P & A^T & c \\ A & 0 & b \\ c^T & b^T & 0 \end{bmatrix}
    \;\to\;
    \operatorname{diag}(E, D, \sigma) \, [\cdot] \, \operatorname{diag}(E, D, \sigma),

by up to 25 Ruiz passes (each row and column divided by the square root of its infinity norm;
Ruiz 2001; stopped early once a pass changes every factor by less than 1e-4) and one pass with
root-mean-square norms, as SCS does (O'Donoghue 2021, section 5.1, and
SCS's documentation on equilibration). On every cone block other than the zero cone and the
orthant the row norms are pooled first (their maximum in the Ruiz passes, their mean in the RMS
pass) so that ``D`` stays constant there. Norms below ``1e-4`` count as 1 (empty rows are left
alone) and above ``1e4`` as ``1e4``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.conic._scaling_kernels import equilibrate_host
from workers.solvers.conic.linsys import prefers_dense

__all__ = ["Scaling", "cone_blocks", "equilibrate", "identity_scaling"]

_RUIZ_PASSES = 25  # then one pass with root-mean-square norms
_RUIZ_TOL = 1e-4  # stop the Ruiz passes once every factor of a pass is this close to 1
_MIN_SCALE = 1e-4  # norms below count as 1, above as 1e4 (SCS's MIN/MAX_NORMALIZATION_FACTOR)
_MAX_SCALE = 1e4


@dataclass(frozen=True)
class Scaling:
    """Diagonal scalings of one problem (arrays in the problem's array module)."""

    D: Any  # (m,) row factors
    E: Any  # (n,) column factors
    sigma: float  # scalar on b and c


def cone_blocks(cones: Any) -> tuple[int, list[tuple[int, int]]]:
    """Rows of the zero cone and nonnegative orthant, and the ``[start, end)`` ranges of every
    other cone, in SCS's row order (z, l, box, q, s, ep, ed, p, d, nuc, ell1, sl).

    Returns ``(free, blocks)``: rows ``[0, free)`` may be scaled individually; each block must be
    scaled by one common factor.
    """
    free = 0
    blocks: list[tuple[int, int]] = []
    for blk in cones.blocks():
        if blk.kind in ("z", "l"):
            free = blk.stop
        elif blk.stop > blk.start:
            blocks.append((blk.start, blk.stop))
    return free, blocks


def identity_scaling(xp: Any, m: int, n: int) -> Scaling:
    return Scaling(D=xp.ones(m), E=xp.ones(n), sigma=1.0)


def _limit(xp: Any, norms: Any) -> Any:
    """SCS's bounds on a norm before it becomes a factor ``1 / sqrt(norm)``."""
    norms = xp.where(norms < _MIN_SCALE, 1.0, norms)
    return xp.minimum(norms, _MAX_SCALE)


def _row_col_stats(M: Any, xp: Any, rms: bool) -> tuple[Any, Any, Any, Any]:
    """Row and column norms of a dense ``M`` (max |.| or sum of squares) and nonzero counts."""
    if M.shape[0] == 0 or M.shape[1] == 0:
        z0, z1 = xp.zeros(M.shape[0]), xp.zeros(M.shape[1])
        return z0, z1, z0, z1
    if rms:
        sq = M * M
        nz = (M != 0).astype(np.float64)
        return xp.sum(sq, axis=1), xp.sum(sq, axis=0), xp.sum(nz, axis=1), xp.sum(nz, axis=0)
    absM = xp.abs(M)
    rows, cols = xp.max(absM, axis=1), xp.max(absM, axis=0)
    return rows, cols, rows, cols


def _block_reduce(values: Any, layout: tuple[np.ndarray, np.ndarray], xp: Any, how: str) -> Any:
    """Pool ``values`` over consecutive blocks (``layout = (offsets, sizes)``, host arrays),
    repeated back to the block rows: the maximum (``how="max"``) or the mean. On a GPU the
    vector (one entry per row) is pooled on the host."""
    offsets, sizes = layout
    host = np.asarray(to_numpy(values))
    if how == "max":
        pooled = np.maximum.reduceat(host, offsets[:-1])
    else:
        pooled = np.add.reduceat(host, offsets[:-1]) / sizes
    out = np.repeat(pooled, sizes)
    return out if xp is np else xp.asarray(out)


def equilibrate(A: Any, P: Any, b: Any, c: Any, cones: Any) -> tuple[Scaling, Any, Any, Any, Any]:
    """Equilibrate ``(A, P, b, c)`` (see the module docstring).

    Parameters
    ----------
    A : (m, n) scipy.sparse (CSC) or dense array
    P : (n, n) same kind as ``A``, or ``None``
    b, c : (m,), (n,) dense arrays
    cones : ConeSpec describing the rows of ``A``

    Returns
    -------
    (scaling, A~, P~, b~, c~)
        New arrays; the inputs are not modified. A small or dense-ish sparse ``A`` (see
        :func:`.linsys.prefers_dense`) comes back as a dense numpy array.
    """
    m, n = A.shape
    free, blocks = cone_blocks(cones)
    if (blocks[-1][1] if blocks else free) != m:
        raise ValueError(f"the cones describe {blocks[-1][1] if blocks else free} rows, A has {m}")
    # a small or dense-ish sparse A is equilibrated (and returned) as a dense array
    if prefers_dense(A):
        A = np.asarray(A.toarray())
        P = None if P is None else np.asarray(P.toarray())
    if sp.issparse(A) or array_namespace(A, b, c) is np:
        return _equilibrate_host(A, P, b, c, free, blocks)
    return equilibrate_xp(A, P, b, c, free, blocks)


_NO_INDEX = np.zeros(1, dtype=np.int64)


def _host_matrix(M: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A float64 copy of ``M`` and the arrays the compiled passes scale in place: ``(copy,
    dense, data, rows, colptr)``; the representation not used is empty."""
    if sp.issparse(M):
        csc = sp.csc_matrix(M, dtype=np.float64, copy=True)
        csc.sum_duplicates()
        rows, colptr = csc.indices.astype(np.int64), csc.indptr.astype(np.int64)
        return csc, np.zeros((0, 0)), csc.data, rows, colptr
    dense = np.array(M, dtype=np.float64, order="C", copy=True)
    return dense, dense, np.zeros(0), _NO_INDEX[:0], _NO_INDEX


def _equilibrate_host(
    A: Any, P: Any, b: Any, c: Any, free: int, blocks: list[tuple[int, int]]
) -> tuple[Scaling, Any, Any, Any, Any]:
    """The passes in one compiled call (:mod:`._scaling_kernels`), on copies of the matrices."""
    As, a_dense, a_data, a_rows, a_colptr = _host_matrix(A)
    form = 0 if sp.issparse(A) else 1
    Ps: Any = None
    p_dense, p_data, p_rows, p_colptr = np.zeros((0, 0)), np.zeros(0), _NO_INDEX[:0], _NO_INDEX
    if P is not None:
        Ps, p_dense, p_data, p_rows, p_colptr = _host_matrix(P)
        form |= 2 if sp.issparse(P) else 6
    sizes = [end - start for start, end in blocks]
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    D, E, sigma, bs, cs = equilibrate_host(
        a_dense,
        a_data,
        a_rows,
        a_colptr,
        p_dense,
        p_data,
        p_rows,
        p_colptr,
        form,
        np.ascontiguousarray(b, dtype=np.float64),
        np.ascontiguousarray(c, dtype=np.float64),
        free,
        offsets,
        _RUIZ_PASSES,
        _RUIZ_TOL,
        _MIN_SCALE,
        _MAX_SCALE,
    )
    return Scaling(D=D, E=E, sigma=float(sigma)), As, Ps, bs, cs


def equilibrate_xp(
    A: Any, P: Any, b: Any, c: Any, free: int, blocks: list[tuple[int, int]]
) -> tuple[Scaling, Any, Any, Any, Any]:
    """:func:`equilibrate` for dense arrays in array-module calls, pass by pass (the GPU path;
    the host runs the same steps compiled)."""
    xp = array_namespace(A, b, c)
    m, n = A.shape
    sizes_np = np.array([end - start for start, end in blocks], dtype=np.int64)
    offsets_np = np.concatenate(([0], np.cumsum(sizes_np))).astype(np.int64)
    layout = (offsets_np, sizes_np)
    D = xp.ones(m)
    E = xp.ones(n)
    sigma = 1.0
    As, Ps, bs, cs = A, P, b, c
    passes = [False] * _RUIZ_PASSES + [True]
    k = 0
    while k < len(passes):
        rms = passes[k]
        k += 1
        rows, cols, rcnt, ccnt = _row_col_stats(As, xp, rms)
        if Ps is not None:
            _, pcols, _, pcnt = _row_col_stats(Ps, xp, rms)
        if rms:
            # root-mean-square over the stored entries, b and c counted in their row / column
            rows = xp.sqrt((rows + bs * bs) / (rcnt + 1.0))
            csum = cols + cs * cs + (pcols if Ps is not None else 0.0)
            ccount = ccnt + 1.0 + (pcnt if Ps is not None else 0.0)
            cols = xp.sqrt(csum / ccount)
            tau_norm = max(
                float(xp.linalg.norm(bs)) / math.sqrt(max(m, 1)),
                float(xp.linalg.norm(cs)) / math.sqrt(n),
            )
        else:
            rows = xp.maximum(rows, xp.abs(bs))
            cols = xp.maximum(cols, xp.abs(cs))
            if Ps is not None:
                cols = xp.maximum(cols, pcols)
            tau_norm = max(_inf(xp, bs), _inf(xp, cs))
        if blocks:
            rows[free:] = _block_reduce(rows[free:], layout, xp, "mean" if rms else "max")
        d = 1.0 / xp.sqrt(_limit(xp, rows))
        e = 1.0 / xp.sqrt(_limit(xp, cols))
        st = 1.0 / math.sqrt(float(_limit(np, np.asarray(tau_norm))))
        As = d[:, None] * As * e[None, :]
        if Ps is not None:
            Ps = e[:, None] * Ps * e[None, :]
        bs = bs * d * st
        cs = cs * e * st
        D = D * d
        E = E * e
        sigma *= st
        if not rms and k < _RUIZ_PASSES:
            # converged passes change nothing: skip to the RMS pass
            change = max(_inf(xp, d - 1.0), _inf(xp, e - 1.0), abs(st - 1.0))
            if change < _RUIZ_TOL:
                k = _RUIZ_PASSES
    return Scaling(D=D, E=E, sigma=sigma), As, Ps, bs, cs


def _inf(xp: Any, v: Any) -> float:
    return float(xp.max(xp.abs(v))) if v.size else 0.0
