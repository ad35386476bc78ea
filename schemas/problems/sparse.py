"""A matrix on the wire: dense (nested lists or base64) or sparse COO."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.arrays import ArrayField

Vector = Annotated[np.ndarray, ArrayField(1)]


class CooMatrix(BaseModel):
    """``{"shape": [m, n], "rows": [...], "cols": [...], "values": [...]}``; repeats are summed."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True, frozen=True
    )

    shape: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]
    rows: Vector
    cols: Vector
    values: Vector

    @model_validator(mode="after")
    def _indices(self) -> CooMatrix:
        for field, size in (("rows", self.shape[0]), ("cols", self.shape[1])):
            v = getattr(self, field)
            if v.size != self.values.size:
                raise PydanticCustomError(
                    "shape_mismatch",
                    "{field} has {got} entries but values has {n}",
                    {"field": field, "got": v.size, "n": self.values.size},
                )
            bad = (v < 0) | (v >= size) | (v != np.round(v))
            if bad.any():
                i = int(np.argmax(bad))
                raise PydanticCustomError(
                    "index_range",
                    "{field} must hold integers in [0, {size}); entry {i} is {value}",
                    {"field": field, "size": size, "i": i, "value": float(v[i])},
                )
        return self

    def dims(self) -> tuple[int, int]:
        return self.shape

    def to_scipy(self) -> Any:
        import scipy.sparse as sp

        return sp.csc_matrix(
            (self.values, (self.rows.astype(np.int64), self.cols.astype(np.int64))),
            shape=self.shape,
        )


def matrix_dims(m: np.ndarray | CooMatrix) -> tuple[int, int]:
    if isinstance(m, CooMatrix):
        return m.dims()
    return int(m.shape[0]), int(m.shape[1])
