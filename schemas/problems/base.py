"""What every problem spec shares: strictness, its kind's capabilities and defaults."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from schemas.options import KindDefaults


class ProblemSpec(BaseModel):
    """Base of every problem kind; subclasses add ``kind: Literal[...]`` and their fields."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True, frozen=True
    )

    #: Whether the kind's solver runs on the GPU queue (cupy) as well as the CPU queue.
    gpu_capable: ClassVar[bool] = False
    #: One line for ``GET /v1/solvers``.
    summary: ClassVar[str] = ""
    defaults: ClassVar[KindDefaults] = KindDefaults()

    def size(self) -> int:
        """Total number of array elements (checked against the server's problem-size limit)."""
        return sum(v.size for v in self.__dict__.values() if isinstance(v, np.ndarray))
