"""``ot``: entropic (or exact) optimal transport between two discrete measures."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.arrays import ArrayField
from schemas.errors import spec_error
from schemas.options import KindDefaults
from schemas.problems.base import ProblemSpec

Vector = Annotated[np.ndarray, ArrayField(1)]
Matrix = Annotated[np.ndarray, ArrayField(2)]

#: Below this epsilon (relative to the cost scale) the automatic method is Sinkhorn-Newton-Sparse.
SNS_BELOW_EPSILON = 1e-2


class Unbalanced(BaseModel):
    """KL-relaxed marginals: ``tau_a KL(P1 | a) + tau_b KL(P^T 1 | b)`` replace the constraints."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    tau_a: float = Field(gt=0, description="Weight of the KL penalty on the row marginal.")
    tau_b: float = Field(gt=0, description="Weight of the KL penalty on the column marginal.")


class OTProblem(ProblemSpec):
    """``min_{P in U(a,b)} <P,C> + epsilon * sum_ij P_ij (log P_ij - 1)`` (POT's convention).

    The cost is given as a matrix ``cost`` (n x m), or built from point clouds ``x`` (n x d) and
    ``y`` (m x d) with ``metric``; ``cost_scale`` divides it by its max or median first.
    """

    gpu_capable: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "entropic optimal transport (log-domain Sinkhorn, Sinkhorn-Newton-Sparse) or exact OT; "
        "certified by the L1 marginal error and the dual gap"
    )
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-8, max_iter=100_000, trace_every=1)

    kind: Literal["ot"]
    a: Vector = Field(description="Source masses, length n, non-negative.")
    b: Vector = Field(description="Target masses, length m, non-negative.")
    cost: Matrix | None = Field(default=None, description="Cost matrix, n x m.")
    x: Matrix | None = Field(default=None, description="Source points, n x d.")
    y: Matrix | None = Field(default=None, description="Target points, m x d.")
    metric: Literal["sqeuclidean", "euclidean", "cityblock"] = "sqeuclidean"
    cost_scale: Literal["none", "max", "median"] = "none"
    epsilon: float | None = Field(
        default=None, gt=0, description="Entropic regularisation (ignored by method 'exact')."
    )
    method: Literal["auto", "sinkhorn", "sns", "exact"] = Field(
        default="auto",
        description=f"'auto': 'sns' when epsilon < {SNS_BELOW_EPSILON} x the cost's max, "
        "else 'sinkhorn'.",
    )
    epsilon_scaling: bool = Field(
        default=False, description="Sinkhorn: anneal epsilon geometrically from a large value."
    )
    unbalanced: Unbalanced | None = Field(
        default=None, description="KL-relaxed marginals (method 'sinkhorn' only)."
    )
    normalize: bool = Field(default=False, description="Rescale a and b to total mass 1 each.")
    plan_format: Literal["dense", "sparse", "none"] = "dense"
    plan_threshold: float = Field(
        default=1e-10, ge=0, description="'sparse': keep entries above this value."
    )

    @field_validator("a", "b")
    @classmethod
    def _masses(cls, v: np.ndarray) -> np.ndarray:
        if (v < 0).any():
            i = int(np.argmax(v < 0))
            raise PydanticCustomError(
                "negative_mass",
                "masses must be non-negative; entry {index} is {value}",
                {"index": i, "value": float(v[i])},
            )
        if not v.sum() > 0:
            raise PydanticCustomError("zero_mass", "total mass must be positive", {})
        return v

    @field_validator("cost")
    @classmethod
    def _cost_shape(cls, v: np.ndarray | None, info: ValidationInfo) -> np.ndarray | None:
        a, b = info.data.get("a"), info.data.get("b")
        if v is not None and a is not None and b is not None and v.shape != (a.size, b.size):
            raise PydanticCustomError(
                "shape_mismatch",
                "cost has shape {shape} but a and b have lengths {n} and {m}",
                {"shape": list(v.shape), "n": a.size, "m": b.size},
            )
        return v

    @field_validator("x", "y")
    @classmethod
    def _points_shape(cls, v: np.ndarray | None, info: ValidationInfo) -> np.ndarray | None:
        masses = info.data.get("a" if info.field_name == "x" else "b")
        if v is not None and masses is not None and v.shape[0] != masses.size:
            raise PydanticCustomError(
                "shape_mismatch",
                "{field} has {rows} points but {mass} has length {n}",
                {
                    "field": info.field_name,
                    "rows": v.shape[0],
                    "mass": "a" if info.field_name == "x" else "b",
                    "n": masses.size,
                },
            )
        if info.field_name == "y" and v is not None:
            x = info.data.get("x")
            if x is not None and x.shape[1] != v.shape[1]:
                raise PydanticCustomError(
                    "shape_mismatch",
                    "x has dimension {dx} but y has dimension {dy}",
                    {"dx": x.shape[1], "dy": v.shape[1]},
                )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> OTProblem:
        has_cost, has_points = self.cost is not None, self.x is not None or self.y is not None
        if has_cost == has_points:
            raise spec_error(
                ("cost",),
                "give either `cost` or both `x` and `y` (point clouds), not both or neither",
            )
        if has_points and (self.x is None or self.y is None):
            raise spec_error(("y" if self.y is None else "x",), "point clouds need both x and y")
        if self.method != "exact" and self.epsilon is None:
            raise spec_error(("epsilon",), f"epsilon > 0 is required by method {self.method!r}")
        if self.unbalanced is not None and self.method not in ("auto", "sinkhorn"):
            raise spec_error(("unbalanced",), "unbalanced transport is solved by method 'sinkhorn'")
        if self.unbalanced is None and not self.normalize:
            sa, sb = float(self.a.sum()), float(self.b.sum())
            if abs(sa - sb) > 1e-9 * max(sa, sb):
                raise spec_error(
                    ("b",),
                    f"a and b must have equal total mass: a sums to {sa:.12g}, b sums to {sb:.12g} "
                    "(set normalize: true to rescale both to 1)",
                )
        return self

    def size(self) -> int:
        # Point clouds are small on the wire, but the solver works on the n x m cost.
        return max(super().size(), self.a.size * self.b.size)
