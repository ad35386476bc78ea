"""``lasso``: minimize 0.5*||A x - b||^2 + lam*||x||_1."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from schemas.arrays import ArrayField
from schemas.options import KindDefaults
from schemas.problems.base import ProblemSpec


class LassoProblem(ProblemSpec):
    """Least squares with an l1 penalty, unscaled: ``0.5*||A x - b||^2 + lam*||x||_1``."""

    gpu_capable: ClassVar[bool] = True
    summary: ClassVar[str] = "0.5*||Ax-b||^2 + lam*||x||_1 (FISTA, certified by the duality gap)"
    defaults: ClassVar[KindDefaults] = KindDefaults(tol=1e-6, max_iter=20_000, trace_every=10)

    kind: Literal["lasso"]
    A: Annotated[np.ndarray, ArrayField(2)] = Field(description="Design matrix, m x n.")
    b: Annotated[np.ndarray, ArrayField(1)] = Field(description="Observations, length m.")
    lam: float = Field(ge=0, description="l1 weight (unscaled), >= 0.")

    @field_validator("b")
    @classmethod
    def _b_matches_rows(cls, b: np.ndarray, info: ValidationInfo) -> np.ndarray:
        A = info.data.get("A")
        if A is not None and A.shape[0] != b.shape[0]:
            raise PydanticCustomError(
                "shape_mismatch",
                "b has length {got} but A has {rows} rows",
                {"got": b.shape[0], "rows": A.shape[0]},
            )
        return b
