"""The problem kinds: a discriminated union on ``kind``. A new family adds its spec to ``SPECS``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from schemas.problems.base import ProblemSpec
from schemas.problems.lasso import LassoProblem
from schemas.problems.ot import OTProblem

SPECS: tuple[type[ProblemSpec], ...] = (LassoProblem, OTProblem)

KINDS: dict[str, type[ProblemSpec]] = {
    spec.model_fields["kind"].annotation.__args__[0]: spec  # type: ignore[union-attr]
    for spec in SPECS
}

# pydantic accepts a discriminator only on a union of two or more members; with one kind the
# member's own `kind: Literal[...]` gives the same field-level error for an unknown kind.
Problem: Any = (
    Annotated[Union[SPECS], Field(discriminator="kind")]  # noqa: UP007 - a runtime tuple
    if len(SPECS) > 1
    else SPECS[0]
)

__all__ = ["KINDS", "SPECS", "LassoProblem", "OTProblem", "Problem", "ProblemSpec"]
