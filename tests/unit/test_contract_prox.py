"""Field-level errors of the proximal kinds and the benchmark kind (no solver runs here)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.errors import field_errors
from schemas.jobs import JobCreate

A = [[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]
BASE: dict[str, dict[str, Any]] = {
    "elastic_net": {"kind": "elastic_net", "A": A, "b": [1.0, 2.0], "lam": 0.1, "l2": 0.1},
    "group_lasso": {
        "kind": "group_lasso",
        "A": A,
        "b": [1.0, 2.0],
        "lam": 0.1,
        "groups": [0, 0, 1],
    },
    "sparse_logreg": {"kind": "sparse_logreg", "A": A, "y": [1, -1], "lam": 0.1},
    "matrix_completion": {
        "kind": "matrix_completion",
        "shape": [3, 4],
        "rows": [0, 1, 2],
        "cols": [3, 0, 1],
        "values": [1.0, 2.0, 3.0],
        "lam": 0.5,
    },
    "tv_denoise": {"kind": "tv_denoise", "y": [[1.0, 2.0], [3.0, 4.0]], "lam": 0.1},
    "constrained_least_squares": {
        "kind": "constrained_least_squares",
        "A": A,
        "b": [1.0, 2.0],
        "constraint": {"type": "simplex", "radius": 1.0},
    },
    "composite": {
        "kind": "composite",
        "A": A,
        "b": [1.0, -1.0],
        "loss": "logistic",
        "penalty": {"name": "l1", "lam": 0.1},
    },
    "bayesopt_benchmark": {"kind": "bayesopt_benchmark", "function": "branin", "budget": 20},
}


def errors_of(problem: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        JobCreate.model_validate({"problem": problem})
    return [(tuple(f.loc), f.msg) for f in field_errors(info.value.errors())]


@pytest.mark.parametrize("kind", sorted(BASE))
def test_valid_bodies(kind: str) -> None:
    assert JobCreate.model_validate({"problem": BASE[kind]}).problem.kind == kind


CASES = [
    ("elastic_net", {"b": [1.0]}, ("problem", "b"), "b has length 1 but A has 2 rows"),
    ("elastic_net", {"l2": -1}, ("problem", "l2"), "greater than or equal to 0"),
    ("elastic_net", {"A": [[1.0, float("nan"), 0.0], [0, 1, 1]]}, ("problem", "A"), "NaN"),
    ("group_lasso", {"groups": [0, 1]}, ("problem", "groups"), "length 2 but A has 3 columns"),
    ("group_lasso", {"groups": [0, -1, 1]}, ("problem", "groups"), "non-negative integers"),
    ("group_lasso", {"groups": [0, 0.5, 1]}, ("problem", "groups"), "non-negative integers"),
    ("group_lasso", {"weights": [1.0]}, ("problem", "weights"), "one entry per group"),
    ("sparse_logreg", {"y": [1, 0]}, ("problem", "y"), "labels must be -1 or +1; entry 1 is 0"),
    ("sparse_logreg", {"y": [1, -1, 1]}, ("problem", "y"), "y has length 3 but A has 2 rows"),
    ("matrix_completion", {"rows": [0, 1, 3]}, ("problem", "rows"), "integers in [0, 3)"),
    ("matrix_completion", {"cols": [3, 0]}, ("problem", "cols"), "cols has 2 entries"),
    ("matrix_completion", {"rows": [0, 0, 2], "cols": [3, 3, 1]}, ("problem", "rows"), "twice"),
    ("matrix_completion", {"lam": 0}, ("problem", "lam"), "greater than 0"),
    ("tv_denoise", {"y": [[[1.0]]]}, ("problem", "y"), "expected a 1 or 2-D array"),
    ("tv_denoise", {"variant": "diagonal"}, ("problem", "variant"), "anisotropic"),
    (
        "constrained_least_squares",
        {"constraint": {"type": "l1_ball", "radius": -1}},
        ("problem", "constraint", "radius"),
        "greater than 0",
    ),
    (
        "constrained_least_squares",
        {"constraint": {"type": "box", "lower": [0, 0], "upper": 1}},
        ("problem", "constraint", "lower"),
        "length 2 but the problem has 3",
    ),
    (
        "constrained_least_squares",
        {"constraint": {"type": "ellipse"}},
        ("problem", "constraint"),
        "does not match any of the expected tags",
    ),
    ("composite", {"b": [1.0, 0.5]}, ("problem", "b"), "labels must be -1 or +1"),
    (
        "composite",
        {"penalty": {"name": "group_l1", "lam": 1, "groups": [0, 1]}},
        ("problem", "penalty", "groups"),
        "length 2 but the problem has 3",
    ),
    (
        "composite",
        {"penalty": {"name": "group_l1", "lam": 1, "groups": [0, 0, 1], "weights": [-1, 1]}},
        ("problem", "penalty", "weights"),
        "must be non-negative; entry 0 is -1.0",
    ),
    (
        "composite",
        {"penalty": {"name": "group_l1", "lam": 1, "groups": [0, 0, 1], "weights": [1, 1, 1]}},
        ("problem", "penalty", "weights"),
        "one entry per group index 0..1; got 3",
    ),
    (
        "composite",
        {"penalty": {"name": "group_l1", "lam": 1, "groups": [0, -1, 1]}},
        ("problem", "penalty", "groups"),
        "non-negative integers",
    ),
    (
        "composite",
        {
            "penalty": {
                "name": "group_sparse_envelope",
                "k": 1,
                "groups": [0, 0, 1],
                "weights": [1, -2],
            }
        },
        ("problem", "penalty", "weights"),
        "entry 1 is -2.0",
    ),
    (
        "composite",
        {"penalty": {"name": "group_k_sparse", "k": 3, "groups": [0, 0, 1]}},
        ("problem", "penalty", "k"),
        "k is 3 but there are 2 groups",
    ),
    (
        "composite",
        {"penalty": {"name": "sum_of_norms", "lam": 1, "blocks": [[0, 1], [1]]}},
        ("problem", "penalty", "blocks"),
        "disjoint",
    ),
    (
        "composite",
        {"penalty": {"name": "box", "lower": [0, 2, 0], "upper": 1}},
        ("problem", "penalty", "lower"),
        "must not exceed upper",
    ),
    (
        "composite",
        {"penalty": {"name": "halfspace", "a": [0, 0, 0], "beta": 1}},
        ("problem", "penalty", "a"),
        "zero vector",
    ),
    (
        "composite",
        {"penalty": {"name": "mcp", "lam": 1, "gamma": 0.5}},
        ("problem", "penalty", "gamma"),
        "greater than 1",
    ),
    (
        "composite",
        {"algorithm": "cd", "penalty": {"name": "l2", "lam": 1}},
        ("problem", "algorithm"),
        "coordinate descent",
    ),
    ("bayesopt_benchmark", {"dim": 3}, ("problem", "dim"), "branin is 2-dimensional"),
    ("bayesopt_benchmark", {"batch_size": 30}, ("problem", "batch_size"), "exceeds the budget"),
    ("bayesopt_benchmark", {"function": "sphere"}, ("problem", "function"), "branin"),
]


@pytest.mark.parametrize(("kind", "change", "loc", "fragment"), CASES)
def test_errors_carry_the_field_path(
    kind: str, change: dict[str, Any], loc: tuple[Any, ...], fragment: str
) -> None:
    found = errors_of({**BASE[kind], **change})
    assert any(l == loc and fragment in m for l, m in found), found  # noqa: E741
