"""The proximal family: composite problems ``loss(A x; b) + penalty(x)`` and their special cases.

Objectives are unscaled (no division by the number of samples). Every kind is certified: duality
gaps where a dual is at hand, the Frank-Wolfe gap for constrained least squares, a KKT residual
for non-convex penalties.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from schemas.arrays import ArrayField
from schemas.errors import spec_error
from schemas.options import KindDefaults
from schemas.problems.base import ProblemSpec
from schemas.problems.penalties import (
    CD_PENALTIES,
    NONCONVEX_PENALTIES,
    Constraint,
    Penalty,
    check_group_weights,
    group_field_labels,
)

Vector = Annotated[np.ndarray, ArrayField(1)]
Matrix = Annotated[np.ndarray, ArrayField(2)]
SignalOrImage = Annotated[np.ndarray, ArrayField((1, 2))]


def _rows_match(A: np.ndarray, b: np.ndarray, name: str = "b") -> None:
    if A.shape[0] != b.shape[0]:
        raise spec_error(
            (name,),
            f"{name} has length {b.shape[0]} but A has {A.shape[0]} rows",
            "shape_mismatch",
        )


def _labels(y: np.ndarray, field: str = "y") -> None:
    bad = ~np.isin(y, (-1.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise spec_error(
            (field,), f"labels must be -1 or +1; entry {i} is {float(y[i])}", "label_value"
        )


class _LeastSquares(ProblemSpec):
    A: Matrix = Field(description="Design matrix, m x n.")
    b: Vector = Field(description="Observations, length m.")

    @model_validator(mode="after")
    def _shapes(self) -> _LeastSquares:
        _rows_match(self.A, self.b)
        return self


class ElasticNetProblem(_LeastSquares):
    """``0.5*||Ax-b||^2 + lam*||x||_1 + 0.5*l2*||x||^2``."""

    summary: ClassVar[str] = (
        "0.5||Ax-b||^2 + lam||x||_1 + 0.5 l2||x||^2 (working-set coordinate descent; duality gap)"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=1_000, trace_every=1)

    kind: Literal["elastic_net"]
    lam: float = Field(ge=0, description="l1 weight, >= 0.")
    l2: float = Field(ge=0, description="Squared-l2 weight, >= 0.")


class GroupLassoProblem(_LeastSquares):
    """``0.5*||Ax-b||^2 + lam * sum_g w_g ||x_g||_2``."""

    summary: ClassVar[str] = (
        "0.5||Ax-b||^2 + lam sum_g w_g||x_g|| (working-set block coordinate descent; duality gap)"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=1_000, trace_every=1)

    kind: Literal["group_lasso"]
    lam: float = Field(ge=0)
    groups: Vector = Field(description="Group index (0, 1, ...) of each column of A.")
    weights: Vector | None = Field(
        default=None, description="Weight per group index; default sqrt(group size)."
    )

    @model_validator(mode="after")
    def _groups(self) -> GroupLassoProblem:
        if self.groups.size != self.A.shape[1]:
            raise spec_error(
                ("groups",),
                f"groups has length {self.groups.size} but A has {self.A.shape[1]} columns",
                "shape_mismatch",
            )
        labels = group_field_labels(self.groups)
        if self.weights is not None:
            check_group_weights(self.weights, labels)
        return self


class SparseLogregProblem(ProblemSpec):
    """``sum_i log(1 + exp(-y_i a_i^T x)) + lam*||x||_1``, labels in {-1, +1}."""

    summary: ClassVar[str] = (
        "l1-regularised logistic regression (working-set coordinate descent; duality gap)"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=1_000, trace_every=1)

    kind: Literal["sparse_logreg"]
    A: Matrix = Field(description="Features, m x n.")
    y: Vector = Field(description="Labels in {-1, +1}, length m.")
    lam: float = Field(ge=0)

    @model_validator(mode="after")
    def _shapes(self) -> SparseLogregProblem:
        _rows_match(self.A, self.y, "y")
        _labels(self.y)
        return self


class MatrixCompletionProblem(ProblemSpec):
    """``0.5 * sum_observed (X_ij - M_ij)^2 + lam*||X||_*``."""

    summary: ClassVar[str] = (
        "nuclear-norm matrix completion (accelerated proximal gradient with SVT; duality gap)"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=5_000, trace_every=1)

    kind: Literal["matrix_completion"]
    shape: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = Field(
        description="[m, n] of the matrix."
    )
    rows: Vector = Field(description="Row index of each observed entry.")
    cols: Vector = Field(description="Column index of each observed entry.")
    values: Vector = Field(description="Observed values.")
    lam: float = Field(gt=0, description="Nuclear-norm weight, > 0.")
    solution_format: Literal["dense", "factors"] = Field(
        default="dense", description="Return X, or its thin SVD factors U, s, Vt."
    )

    @model_validator(mode="after")
    def _entries(self) -> MatrixCompletionProblem:
        m, n = self.shape
        for field, size in (("rows", m), ("cols", n)):
            v = getattr(self, field)
            if v.size != self.values.size:
                raise spec_error(
                    (field,),
                    f"{field} has {v.size} entries but values has {self.values.size}",
                    "shape_mismatch",
                )
            bad = (v < 0) | (v >= size) | (v != np.round(v))
            if bad.any():
                i = int(np.argmax(bad))
                raise spec_error(
                    (field,),
                    f"{field} must hold integers in [0, {size}); entry {i} is {float(v[i])}",
                    "index_range",
                )
        flat = self.rows.astype(np.int64) * n + self.cols.astype(np.int64)
        if np.unique(flat).size != flat.size:
            raise spec_error(("rows",), "an entry (row, col) is observed twice", "duplicate_entry")
        return self

    def size(self) -> int:
        return max(super().size(), self.shape[0] * self.shape[1])


class TVDenoiseProblem(ProblemSpec):
    """``0.5*||x - y||^2 + lam * TV(x)`` for a signal (1-D) or an image (2-D)."""

    gpu_capable: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "total-variation denoising, 1-D exact (taut string) or 2-D by dual FISTA; duality gap"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=10_000, trace_every=10)

    kind: Literal["tv_denoise"]
    y: SignalOrImage = Field(description="Noisy signal (1-D) or image (2-D).")
    lam: float = Field(ge=0)
    variant: Literal["anisotropic", "isotropic"] = "isotropic"


class ConstrainedLeastSquaresProblem(_LeastSquares):
    """``0.5*||Ax-b||^2`` over a box, the non-negative orthant, a simplex or an l1 ball."""

    gpu_capable: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "least squares over a box / orthant / simplex / l1 ball (accelerated projected gradient; "
        "Frank-Wolfe gap)"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=20_000, trace_every=10)

    kind: Literal["constrained_least_squares"]
    constraint: Constraint

    @model_validator(mode="after")
    def _fits(self) -> ConstrainedLeastSquaresProblem:
        problem = self.constraint.check_size(self.A.shape[1])
        if problem is not None:
            raise spec_error(("constraint", problem[0]), problem[1], "shape_mismatch")
        return self


class CompositeProblem(_LeastSquares):
    """``loss(A x; b) + penalty(x)`` with a penalty from the catalogue."""

    gpu_capable: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "loss (least squares, logistic, Huber) + any catalogue penalty; FISTA, ADMM, PDHG or CD"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=10_000, trace_every=10)

    kind: Literal["composite"]
    loss: Literal["least_squares", "logistic", "huber"] = "least_squares"
    delta: float = Field(default=1.0, gt=0, description="Huber threshold (loss 'huber').")
    penalty: Penalty
    algorithm: Literal["auto", "fista", "admm", "pdhg", "cd"] = Field(
        default="auto",
        description="auto: coordinate descent where it serves the loss and penalty (on the CPU), "
        "FISTA otherwise.",
    )

    @model_validator(mode="after")
    def _fits(self) -> CompositeProblem:
        if self.loss == "logistic":
            _labels(self.b, "b")
        problem = self.penalty.check_size(self.A.shape[1])
        if problem is not None:
            raise spec_error(("penalty", problem[0]), problem[1], "shape_mismatch")
        if self.algorithm == "cd":
            refusal = self.cd_refusal()
            if refusal is not None:
                raise spec_error(("algorithm",), refusal)
        if self.algorithm in ("admm", "pdhg") and self.penalty.name in NONCONVEX_PENALTIES:
            raise spec_error(
                ("algorithm",),
                f"{self.algorithm} needs a convex penalty; {self.penalty.name!r} is not (use "
                "fista or auto)",
            )
        return self

    def cd_refusal(self) -> str | None:
        """Why coordinate descent cannot solve this problem; ``None`` when it can."""
        if self.penalty.name not in CD_PENALTIES or self.loss == "huber":
            return (
                "coordinate descent serves least-squares or logistic losses with the "
                f"penalties {sorted(CD_PENALTIES)}; got loss {self.loss!r} with penalty "
                f"{self.penalty.name!r}"
            )
        if self.loss == "logistic" and self.penalty.name != "l1":
            return "coordinate descent with logistic loss: l1 only"
        return None
