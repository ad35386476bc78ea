"""The conic family: SCS's standard form with spectral matrix cones, and templates built on it.

``conic``: minimize ``c^T x + 0.5 x^T P x`` subject to ``A x + s = b``, ``s in K``, with ``K`` a
product of cones in SCS's row order and field names. The templates (experimental design, robust
PCA, graph partitioning, max-cut, SDP) build the spectral formulation for the caller.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.arrays import ArrayField
from schemas.errors import spec_error
from schemas.options import KindDefaults
from schemas.problems.base import ProblemSpec
from schemas.problems.sparse import CooMatrix, matrix_dims

Vector = Annotated[np.ndarray, ArrayField(1)]
Dense = Annotated[np.ndarray, ArrayField(2)]
Matrix = Dense | CooMatrix
Count = Annotated[int, Field(ge=0)]
Dim = Annotated[int, Field(ge=1)]

_CONIC_DEFAULTS = KindDefaults(tol=1e-4, max_iter=100_000, trace_every=10)


class Cones(BaseModel):
    """The cone ``K``; rows of ``A`` and ``b`` follow this field order (SCS's)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    z: Count = Field(default=0, description="Zero cone (equalities).")
    l: Count = Field(default=0, description="Non-negative orthant.")  # noqa: E741
    bu: list[float] = Field(default_factory=list, description="Box cone upper bounds.")
    bl: list[float] = Field(default_factory=list, description="Box cone lower bounds.")
    q: list[Dim] = Field(default_factory=list, description="Second-order cone sizes.")
    s: list[Dim] = Field(
        default_factory=list, description="PSD cone sizes n; n(n+1)/2 rows each (svec)."
    )
    ep: Count = Field(default=0, description="Primal exponential cones (3 rows each).")
    ed: Count = Field(default=0, description="Dual exponential cones (3 rows each).")
    p: list[Annotated[float, Field(ge=-1, le=1)]] = Field(
        default_factory=list, description="Power cone parameters (3 rows each)."
    )
    d: list[Dim] = Field(
        default_factory=list, description="Log-det cone sizes n: rows (t, v, svec X)."
    )
    nuc_m: list[Dim] = Field(default_factory=list, description="Nuclear-norm cone row counts m.")
    nuc_n: list[Dim] = Field(default_factory=list, description="... and column counts n <= m.")
    ell1: list[Dim] = Field(default_factory=list, description="l1-norm cone sizes: rows (t, x).")
    sl_n: list[Dim] = Field(
        default_factory=list, description="Sum-of-k-largest-eigenvalues cone sizes n."
    )
    sl_k: list[Dim] = Field(default_factory=list, description="... and their k, 0 < k < n.")

    @model_validator(mode="after")
    def _paired(self) -> Cones:
        if len(self.bu) != len(self.bl):
            raise spec_error(("bl",), "bu and bl must have the same length")
        for i, (u, lo) in enumerate(zip(self.bu, self.bl, strict=True)):
            if lo > u:
                raise spec_error(("bl", i), f"box lower bound {lo} exceeds upper bound {u}")
        if len(self.nuc_m) != len(self.nuc_n):
            raise spec_error(("nuc_n",), "nuc_m and nuc_n must have the same length")
        for i, (m, n) in enumerate(zip(self.nuc_m, self.nuc_n, strict=True)):
            if m < n:
                raise spec_error(("nuc_m", i), f"nuc_m must be >= nuc_n; got {m} < {n}")
        if len(self.sl_n) != len(self.sl_k):
            raise spec_error(("sl_k",), "sl_n and sl_k must have the same length")
        for i, (n, k) in enumerate(zip(self.sl_n, self.sl_k, strict=True)):
            if not 0 < k < n:
                raise spec_error(("sl_k", i), f"sl_k must satisfy 0 < k < sl_n = {n}; got {k}")
        return self

    def rows(self) -> int:
        """Rows of ``A`` the cone spans."""
        tri = lambda n: n * (n + 1) // 2  # noqa: E731
        return (
            self.z
            + self.l
            + (len(self.bu) + 1 if self.bu else 0)
            + sum(self.q)
            + sum(tri(n) for n in self.s)
            + 3 * (self.ep + self.ed + len(self.p))
            + sum(2 + tri(n) for n in self.d)
            + sum(1 + m * n for m, n in zip(self.nuc_m, self.nuc_n, strict=True))
            + sum(1 + n for n in self.ell1)
            + sum(1 + tri(n) for n in self.sl_n)
        )


class WarmStart(BaseModel):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True, frozen=True
    )

    x: Vector
    y: Vector
    s: Vector


class _Tolerances(ProblemSpec):
    eps_abs: float | None = Field(default=None, gt=0, description="Default: options.tol.")
    eps_rel: float | None = Field(default=None, gt=0, description="Default: options.tol.")
    eps_infeas: float = Field(default=1e-7, gt=0)


class ConicProblem(_Tolerances):
    """SCS's standard form with every SCS cone plus the spectral cones."""

    gpu_capable: ClassVar[bool] = False
    summary: ClassVar[str] = (
        "conic program in SCS form with spectral cones (log-det, nuclear norm, l1, "
        "sum-of-k-largest); operator splitting on the homogeneous embedding; certified by "
        "residuals or infeasibility certificates"
    )
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["conic"]
    A: Matrix = Field(description="Constraint matrix, m x n: dense or sparse COO.")
    b: Vector
    c: Vector
    P: Matrix | None = Field(
        default=None, description="Quadratic term, n x n, symmetric PSD (full or upper triangle)."
    )
    cones: Cones
    warm_start: WarmStart | None = None

    @model_validator(mode="after")
    def _dims(self) -> ConicProblem:
        m, n = matrix_dims(self.A)
        if self.b.size != m:
            raise spec_error(("b",), f"b has length {self.b.size} but A has {m} rows")
        if self.c.size != n:
            raise spec_error(("c",), f"c has length {self.c.size} but A has {n} columns")
        rows = self.cones.rows()
        if rows != m:
            raise spec_error(("cones",), f"the cones span {rows} rows but A has {m} rows")
        if self.P is not None:
            if matrix_dims(self.P) != (n, n):
                raise spec_error(("P",), f"P must be {n} x {n}; got {matrix_dims(self.P)}")
            if isinstance(self.P, np.ndarray):
                P = self.P
                upper = np.allclose(np.tril(P, -1), 0)
                if not upper and not np.allclose(P, P.T, rtol=1e-10, atol=1e-12):
                    raise spec_error(("P",), "P must be symmetric (or given as its upper triangle)")
        if self.warm_start is not None:
            for name, size in (("x", n), ("y", m), ("s", m)):
                got = getattr(self.warm_start, name).size
                if got != size:
                    raise spec_error(("warm_start", name), f"length {got}; expected {size}")
        return self

    def size(self) -> int:
        total = self.b.size + self.c.size
        for M in (self.A, self.P):
            if isinstance(M, CooMatrix):
                total += 3 * M.values.size
            elif M is not None:
                total += M.size
        return total


def _symmetric(field: str, X: np.ndarray, loc: tuple[str | int, ...] | None = None) -> None:
    if X.shape[0] != X.shape[1]:
        raise spec_error(loc or (field,), f"{field} must be square; got shape {list(X.shape)}")
    scale = max(1.0, float(np.abs(X).max()))
    if not np.allclose(X, X.T, rtol=0, atol=1e-10 * scale):
        raise spec_error(loc or (field,), f"{field} must be symmetric")


class ExperimentalDesignProblem(_Tolerances):
    """Optimal experimental design: weights ``w`` on the simplex over candidate vectors."""

    summary: ClassVar[str] = (
        "D-optimal (log-det cone), A- or E-optimal experimental design over candidate vectors"
    )
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["experimental_design"]
    V: Dense = Field(description="Candidate vectors as columns, n x p (p >= n).")
    criterion: Literal["D", "A", "E"] = "D"

    @model_validator(mode="after")
    def _enough(self) -> ExperimentalDesignProblem:
        n, p = self.V.shape
        if p < n:
            raise spec_error(("V",), f"need at least n = {n} candidate vectors; got {p}")
        return self


class RobustPCAProblem(_Tolerances):
    """``min ||L||_* + lam ||S||_1`` s.t. ``L + S = M`` (or the penalised form with ``mu``)."""

    summary: ClassVar[str] = "robust PCA: low rank plus sparse (nuclear-norm and l1 cones)"
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["robust_pca"]
    M: Dense
    lam: float | None = Field(default=None, gt=0, description="Default 1/sqrt(max(m, n)).")
    mu: float | None = Field(
        default=None, gt=0, description="If given: ||L||_* + lam||S||_1 + ||L+S-M||_F^2/(2 mu)."
    )


class GraphPartitioningProblem(_Tolerances):
    """k-way graph partitioning relaxation through the sum-of-k-largest-eigenvalues cone."""

    summary: ClassVar[str] = "k-way graph partitioning relaxation (sum-of-k-largest cone)"
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["graph_partitioning"]
    laplacian: Dense | None = Field(default=None, description="Graph Laplacian, n x n.")
    edges: list[tuple[int, int]] | None = Field(default=None, description="Edge list (i, j).")
    weights: Vector | None = Field(default=None, description="Edge weights (default 1).")
    n: int | None = Field(default=None, ge=2, description="Vertex count with an edge list.")
    k: int = Field(ge=2, description="Number of parts.")

    @model_validator(mode="after")
    def _graph(self) -> GraphPartitioningProblem:
        if (self.laplacian is None) == (self.edges is None):
            raise spec_error(("laplacian",), "give either `laplacian` or `edges`")
        if self.laplacian is not None:
            _symmetric("laplacian", self.laplacian)
            size = self.laplacian.shape[0]
        else:
            assert self.edges is not None
            if self.n is None:
                raise spec_error(("n",), "an edge list needs the vertex count n")
            size = self.n
            for i, (u, v) in enumerate(self.edges):
                if not (0 <= u < size and 0 <= v < size) or u == v:
                    raise spec_error(("edges", i), f"edge ({u}, {v}) is not a pair of vertices")
            if self.weights is not None and self.weights.size != len(self.edges):
                raise spec_error(("weights",), "one weight per edge")
        if not self.k < size:
            raise spec_error(("k",), f"k must be smaller than the vertex count {size}")
        return self


class MaxCutProblem(_Tolerances):
    """Max-cut SDP relaxation plus Goemans-Williamson rounding of the returned X."""

    summary: ClassVar[str] = "max-cut SDP relaxation with Goemans-Williamson rounding"
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["max_cut"]
    weights: Dense = Field(description="Symmetric non-negative weight matrix, n x n.")
    rounding_trials: int = Field(default=100, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _w(self) -> MaxCutProblem:
        _symmetric("weights", self.weights)
        return self


class SDPProblem(_Tolerances):
    """``min <C, X>`` s.t. ``<A_i, X> = b_i``, ``X`` PSD."""

    summary: ClassVar[str] = "semidefinite program in standard form"
    defaults: ClassVar[KindDefaults] = _CONIC_DEFAULTS

    kind: Literal["sdp"]
    C: Dense
    A: list[Dense] = Field(min_length=1)
    b: Vector

    @model_validator(mode="after")
    def _dims(self) -> SDPProblem:
        _symmetric("C", self.C)
        n = self.C.shape[0]
        for i, Ai in enumerate(self.A):
            if Ai.shape != (n, n):
                raise spec_error(("A", i), f"A[{i}] must be {n} x {n}; got {list(Ai.shape)}")
            _symmetric(f"A[{i}]", Ai, ("A", i))
        if self.b.size != len(self.A):
            raise spec_error(("b",), f"b has length {self.b.size} but there are {len(self.A)} A_i")
        return self

    def size(self) -> int:
        n = self.C.shape[0]
        return max(super().size(), math.prod((len(self.A) + 1, n, n)))
