"""The problem kinds: a discriminated union on ``kind``. A new family adds its spec to ``SPECS``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from schemas.problems.base import ProblemSpec
from schemas.problems.bayesopt import BayesoptBenchmarkProblem
from schemas.problems.conic import (
    ConicProblem,
    ExperimentalDesignProblem,
    GraphPartitioningProblem,
    MaxCutProblem,
    RobustPCAProblem,
    SDPProblem,
)
from schemas.problems.lasso import LassoProblem
from schemas.problems.ot import OTProblem
from schemas.problems.penalties import CONSTRAINT_TYPES, PENALTY_NAMES
from schemas.problems.prox import (
    CompositeProblem,
    ConstrainedLeastSquaresProblem,
    ElasticNetProblem,
    GroupLassoProblem,
    MatrixCompletionProblem,
    SparseLogregProblem,
    TVDenoiseProblem,
)

SPECS: tuple[type[ProblemSpec], ...] = (
    LassoProblem,
    ElasticNetProblem,
    GroupLassoProblem,
    SparseLogregProblem,
    MatrixCompletionProblem,
    TVDenoiseProblem,
    ConstrainedLeastSquaresProblem,
    CompositeProblem,
    OTProblem,
    ConicProblem,
    ExperimentalDesignProblem,
    RobustPCAProblem,
    GraphPartitioningProblem,
    MaxCutProblem,
    SDPProblem,
    BayesoptBenchmarkProblem,
)

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

#: Tags of the nested discriminated unions, which error locations leave out like the kind's.
UNION_TAGS: dict[str, frozenset[str]] = {
    "problem": frozenset(KINDS),
    "penalty": PENALTY_NAMES,
    "constraint": CONSTRAINT_TYPES,
}

__all__ = [
    "KINDS",
    "SPECS",
    "UNION_TAGS",
    "BayesoptBenchmarkProblem",
    "CompositeProblem",
    "ConicProblem",
    "ExperimentalDesignProblem",
    "GraphPartitioningProblem",
    "MaxCutProblem",
    "RobustPCAProblem",
    "SDPProblem",
    "ConstrainedLeastSquaresProblem",
    "ElasticNetProblem",
    "GroupLassoProblem",
    "LassoProblem",
    "MatrixCompletionProblem",
    "OTProblem",
    "Problem",
    "ProblemSpec",
    "SparseLogregProblem",
    "TVDenoiseProblem",
]
