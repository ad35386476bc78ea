"""Penalties and constraint sets named by problem specs: discriminated unions on ``name``/``type``.

Each model carries the catalogue operator's parameters; sizes are checked against the problem's
number of variables by the spec that holds it (``check_size``).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.arrays import ArrayField
from schemas.errors import spec_error

Vector = Annotated[np.ndarray, ArrayField(1)]


class _Item(BaseModel):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True, frozen=True
    )

    def check_size(self, n: int) -> tuple[str, str] | None:
        """``(field, message)`` when the item does not fit ``n`` variables, else ``None``."""
        return None


def _length(field: str, v: np.ndarray | None, n: int) -> tuple[str, str] | None:
    if v is not None and v.size != n:
        return field, f"{field} has length {v.size} but the problem has {n} variables"
    return None


def _nonneg(v: np.ndarray, field: str) -> np.ndarray:
    if (v < 0).any():
        i = int(np.argmax(v < 0))
        raise spec_error(
            (field,), f"{field} must be non-negative; entry {i} is {float(v[i])}", "negative_entry"
        )
    return v


def group_field_labels(groups: np.ndarray) -> np.ndarray:
    """:func:`group_labels` for a model's ``groups`` field: its error reported at that field."""
    try:
        return group_labels(groups)
    except PydanticCustomError as exc:
        raise spec_error(("groups",), exc.message(), exc.type) from None


def check_group_weights(weights: np.ndarray, labels: np.ndarray) -> None:
    """A model's ``weights`` field: one non-negative weight per group index."""
    if weights.size != int(labels.max()) + 1:
        raise spec_error(
            ("weights",),
            f"weights needs one entry per group index 0..{int(labels.max())}; got {weights.size}",
            "shape_mismatch",
        )
    _nonneg(weights, "weights")


def group_labels(groups: np.ndarray) -> np.ndarray:
    """Validate a group-index vector (non-negative integers) and return it as int64."""
    if (groups < 0).any() or (groups != np.round(groups)).any():
        i = int(np.argmax((groups < 0) | (groups != np.round(groups))))
        raise PydanticCustomError(
            "group_index",
            "groups must be non-negative integers (a group index per column); entry {index} is "
            "{value}",
            {"index": i, "value": float(groups[i])},
        )
    return groups.astype(np.int64)


class Lam(_Item):
    lam: float = Field(ge=0, description="Penalty weight, >= 0.")


class L1(Lam):
    """``lam * ||x||_1`` (soft threshold)."""

    name: Literal["l1"]


class WeightedL1(_Item):
    """``sum_j w_j |x_j|``."""

    name: Literal["weighted_l1"]
    weights: Vector

    @model_validator(mode="after")
    def _w(self) -> WeightedL1:
        _nonneg(self.weights, "weights")
        return self

    def check_size(self, n: int) -> tuple[str, str] | None:
        return _length("weights", self.weights, n)


class ElasticNet(Lam):
    """``lam * ||x||_1 + 0.5 * l2 * ||x||^2``."""

    name: Literal["elastic_net"]
    l2: float = Field(ge=0)


class L2(Lam):
    """``lam * ||x||_2`` (not squared)."""

    name: Literal["l2"]


class SquaredL2(Lam):
    """``0.5 * lam * ||x||^2``."""

    name: Literal["squared_l2"]


class Linf(Lam):
    """``lam * ||x||_inf``."""

    name: Literal["linf"]


class GroupL1(Lam):
    """``lam * sum_g w_g ||x_g||_2``; ``weights`` default to sqrt(group size)."""

    name: Literal["group_l1"]
    groups: Vector = Field(description="Group index (0, 1, ...) per variable.")
    weights: Vector | None = Field(default=None, description="Weight per group index.")

    @model_validator(mode="after")
    def _g(self) -> GroupL1:
        labels = group_field_labels(self.groups)
        if self.weights is not None:
            check_group_weights(self.weights, labels)
        return self

    def check_size(self, n: int) -> tuple[str, str] | None:
        return _length("groups", self.groups, n)


class SumOfNorms(Lam):
    """``lam * sum_k ||x_{B_k}||_2`` over disjoint blocks of variable indices."""

    name: Literal["sum_of_norms"]
    blocks: list[list[int]] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self) -> SumOfNorms:
        seen: set[int] = set()
        for block in self.blocks:
            if not block or any(j < 0 or j in seen for j in block) or len(set(block)) != len(block):
                raise spec_error(
                    ("blocks",),
                    "blocks must be non-empty, disjoint lists of indices >= 0",
                    "blocks",
                )
            seen.update(block)
        return self

    def check_size(self, n: int) -> tuple[str, str] | None:
        top = max(max(b) for b in self.blocks)
        return ("blocks", f"index {top} is out of range for {n} variables") if top >= n else None


class _GroupBudget(_Item):
    """A budget of ``k`` non-zero groups (``groups``: a group label per variable)."""

    k: int = Field(ge=1)
    groups: Vector

    @model_validator(mode="after")
    def _g(self) -> _GroupBudget:
        labels = group_field_labels(self.groups)
        if self.k > int(labels.max()) + 1:
            raise spec_error(
                ("k",), f"k is {self.k} but there are {int(labels.max()) + 1} groups", "k_too_large"
            )
        return self

    def check_size(self, n: int) -> tuple[str, str] | None:
        return _length("groups", self.groups, n)


class GroupSparseEnvelope(_GroupBudget):
    """Weighted group sparse envelope: the convex envelope of a k-active-groups budget."""

    name: Literal["group_sparse_envelope"]
    lam: float = Field(default=1.0, ge=0)
    weights: Vector | None = None

    @model_validator(mode="after")
    def _w(self) -> GroupSparseEnvelope:
        if self.weights is not None:
            _nonneg(self.weights, "weights")
        return self


class GroupKSparse(_GroupBudget):
    """Indicator of at most ``k`` non-zero groups (non-convex; projection keeps the largest)."""

    name: Literal["group_k_sparse"]


class Huber(_Item):
    """``sum_j huber_delta(x_j)``."""

    name: Literal["huber"]
    delta: float = Field(gt=0)


class Hinge(_Item):
    """``sum_j max(0, 1 - x_j)``."""

    name: Literal["hinge"]


class MCP(Lam):
    """Minimax concave penalty (non-convex), ``gamma > 1``."""

    name: Literal["mcp"]
    gamma: float = Field(default=3.0, gt=1)


class SCAD(Lam):
    """Smoothly clipped absolute deviation (non-convex), ``gamma > 2``."""

    name: Literal["scad"]
    gamma: float = Field(default=3.7, gt=2)


class L0(Lam):
    """``lam * ||x||_0`` (hard threshold; non-convex)."""

    name: Literal["l0"]


class TV1D(Lam):
    """``lam * sum_j |x_{j+1} - x_j|``."""

    name: Literal["tv1d"]


class BoxSet(_Item):
    """``lower <= x <= upper`` (scalars or one bound per variable; omitted means unbounded)."""

    lower: float | Vector | None = Field(default=None, description="Default: no lower bound.")
    upper: float | Vector | None = Field(default=None, description="Default: no upper bound.")

    @model_validator(mode="after")
    def _ordered(self) -> BoxSet:
        lo = -np.inf if self.lower is None else np.asarray(self.lower)
        hi = np.inf if self.upper is None else np.asarray(self.upper)
        if np.any(lo > hi):
            raise spec_error(("lower",), "lower must not exceed upper", "empty_box")
        return self

    def bounds(self) -> dict[str, float | np.ndarray]:
        """The bounds with an omitted one as an infinite scalar."""
        return {
            "lower": -np.inf if self.lower is None else self.lower,
            "upper": np.inf if self.upper is None else self.upper,
        }

    def check_size(self, n: int) -> tuple[str, str] | None:
        for field in ("lower", "upper"):
            v = getattr(self, field)
            if isinstance(v, np.ndarray) and v.size != n:
                return field, f"{field} has length {v.size} but the problem has {n} variables"
        return None


class Radius(_Item):
    radius: float = Field(default=1.0, gt=0, description="Radius, > 0.")


class BoxPenalty(BoxSet):
    name: Literal["box"]


class NonNegPenalty(_Item):
    name: Literal["nonneg"]


class SimplexPenalty(Radius):
    name: Literal["simplex"]


class L1BallPenalty(Radius):
    name: Literal["l1_ball"]


class L2BallPenalty(Radius):
    name: Literal["l2_ball"]


class LinfBallPenalty(Radius):
    name: Literal["linf_ball"]


class HalfSpaceLike(_Item):
    a: Vector
    beta: float

    def check_size(self, n: int) -> tuple[str, str] | None:
        return _length("a", self.a, n)

    @model_validator(mode="after")
    def _nonzero(self) -> HalfSpaceLike:
        if not np.any(self.a):
            raise spec_error(("a",), "a must not be the zero vector", "zero_normal")
        return self


class Hyperplane(HalfSpaceLike):
    """``{x : a^T x = beta}``."""

    name: Literal["hyperplane"]


class HalfSpace(HalfSpaceLike):
    """``{x : a^T x <= beta}``."""

    name: Literal["halfspace"]


Penalty = Annotated[
    L1
    | WeightedL1
    | ElasticNet
    | L2
    | SquaredL2
    | Linf
    | GroupL1
    | SumOfNorms
    | GroupSparseEnvelope
    | GroupKSparse
    | Huber
    | Hinge
    | MCP
    | SCAD
    | L0
    | TV1D
    | BoxPenalty
    | NonNegPenalty
    | SimplexPenalty
    | L1BallPenalty
    | L2BallPenalty
    | LinfBallPenalty
    | Hyperplane
    | HalfSpace,
    Field(discriminator="name"),
]
PENALTY_MODELS: tuple[type[_Item], ...] = get_args(get_args(Penalty)[0])
PENALTY_NAMES = frozenset(get_args(m.model_fields["name"].annotation)[0] for m in PENALTY_MODELS)
#: Non-convex penalties: FISTA only (ADMM and PDHG need a convex one), certified by KKT residual.
#: (The catalogue's group_sparse_penalty is not offered: its prox exists only for steps below
#: 1 / (lam max w), which a solver's step cannot be held to.)
NONCONVEX_PENALTIES = frozenset({"mcp", "scad", "l0", "group_k_sparse"})
#: Penalties with a coordinate-descent solver (separable or group-separable).
CD_PENALTIES = frozenset({"l1", "weighted_l1", "elastic_net", "group_l1", "mcp", "scad"})


class BoxConstraint(BoxSet):
    type: Literal["box"]


class NonNegConstraint(_Item):
    type: Literal["nonneg"]


class SimplexConstraint(Radius):
    """``{x >= 0 : sum x = radius}``."""

    type: Literal["simplex"]


class L1BallConstraint(Radius):
    """``{x : ||x||_1 <= radius}``."""

    type: Literal["l1_ball"]


Constraint = Annotated[
    BoxConstraint | NonNegConstraint | SimplexConstraint | L1BallConstraint,
    Field(discriminator="type"),
]
CONSTRAINT_TYPES = frozenset({"box", "nonneg", "simplex", "l1_ball"})
