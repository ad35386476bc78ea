"""The public contract: job bodies, option defaults, the kind registry, queue routing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.errors import field_errors
from schemas.jobs import JobCreate
from schemas.options import KindDefaults, SolveOptions
from schemas.problems import KINDS, LassoProblem
from workers.kinds import SOLVERS
from workers.routing import CPU_QUEUE, GPU_QUEUE, RoutingError, choose_queue

GOOD = {"kind": "lasso", "A": [[1.0, 0.0], [0.0, 1.0]], "b": [1.0, 2.0], "lam": 0.5}


def errors_of(body: dict) -> list[tuple[tuple, str]]:
    """The errors as the API reports them (the union tag dropped from each location)."""
    with pytest.raises(ValidationError) as info:
        JobCreate.model_validate(body)
    return [(tuple(f.loc), f.msg) for f in field_errors(info.value.errors())]


def test_every_kind_has_a_solver_and_back() -> None:
    assert set(KINDS) == set(SOLVERS)


def test_valid_body_and_size() -> None:
    job = JobCreate.model_validate({"problem": GOOD, "metadata": {"owner": "me", "n": [1, 2]}})
    assert isinstance(job.problem, LassoProblem)
    assert job.problem.size() == 6
    assert job.device == "auto" and job.options.array_format == "list"


@pytest.mark.parametrize(
    ("change", "loc", "fragment"),
    [
        ({"b": [1.0]}, ("problem", "b"), "b has length 1 but A has 2 rows"),
        ({"lam": -0.1}, ("problem", "lam"), "greater than or equal to 0"),
        ({"lam": float("nan")}, ("problem", "lam"), "finite"),
        ({"lam": float("inf")}, ("problem", "lam"), "finite"),
        ({"kind": "nope"}, ("problem",), "unknown problem kind 'nope'"),
        ({"kind": {}}, ("problem",), "unknown problem kind {}"),
        ({"kind": ["lasso"]}, ("problem",), "unknown problem kind"),
        ({"kind": None}, ("problem",), "unknown problem kind None"),
        ({"A": [[1.0, 2.0]]}, ("problem", "b"), "A has 1 rows"),
        ({"unexpected": 1}, ("problem", "unexpected"), "Extra inputs"),
    ],
)
def test_problem_errors_carry_the_field_path(change: dict, loc: tuple, fragment: str) -> None:
    found = errors_of({"problem": {**GOOD, **change}})
    assert any(l == loc and fragment in m for l, m in found), found  # noqa: E741


@pytest.mark.parametrize(
    ("options", "loc"),
    [
        ({"tol": 0}, ("options", "tol")),
        ({"tol": float("nan")}, ("options", "tol")),
        ({"max_iter": 0}, ("options", "max_iter")),
        ({"time_limit_s": -1}, ("options", "time_limit_s")),
        ({"trace_every": 0}, ("options", "trace_every")),
        ({"array_format": "csv"}, ("options", "array_format")),
        ({"colour": "red"}, ("options", "colour")),
    ],
)
def test_option_errors(options: dict, loc: tuple) -> None:
    assert loc in [l for l, _ in errors_of({"problem": GOOD, "options": options})]  # noqa: E741


def test_defaults_resolve_per_kind() -> None:
    defaults = KindDefaults(tol=1e-5, max_iter=7, trace_every=3)
    resolved = defaults.resolve(SolveOptions(max_iter=9), time_limit_s=12.0)
    assert resolved == {
        "tol": 1e-5,
        "max_iter": 9,
        "time_limit_s": 12.0,
        "trace_every": 3,
        "array_format": "list",
    }


def test_json_schema_renders_for_the_catalogue() -> None:
    schema = JobCreate.model_json_schema()
    lasso = schema["$defs"]["LassoProblem"]
    assert lasso["additionalProperties"] is False
    assert set(lasso["required"]) >= {"kind", "A", "b", "lam"}


@pytest.mark.parametrize(
    ("device", "capable", "alive", "queue"),
    [
        ("cpu", True, True, CPU_QUEUE),
        ("auto", True, True, GPU_QUEUE),
        ("auto", True, False, CPU_QUEUE),
        ("auto", False, True, CPU_QUEUE),
        ("gpu", True, True, GPU_QUEUE),
    ],
)
def test_routing(device: str, capable: bool, alive: bool, queue: str) -> None:
    assert choose_queue(device, kind_gpu_capable=capable, gpu_worker_alive=alive) == queue  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("capable", "alive", "reason"),
    [(False, True, "kind_cpu_only"), (True, False, "no_gpu_worker")],
)
def test_gpu_routing_refusals(capable: bool, alive: bool, reason: str) -> None:
    with pytest.raises(RoutingError) as info:
        choose_queue("gpu", kind_gpu_capable=capable, gpu_worker_alive=alive)
    assert info.value.reason == reason


OT = {"kind": "ot", "a": [0.5, 0.5], "b": [0.25, 0.75], "cost": [[0, 1], [1, 0]], "epsilon": 0.1}


@pytest.mark.parametrize(
    ("change", "loc", "fragment"),
    [
        ({"b": [0.5, 0.6]}, ("problem", "b"), "a sums to 1, b sums to 1.1"),
        ({"a": [-0.1, 1.1]}, ("problem", "a"), "non-negative; entry 0 is -0.1"),
        ({"a": [0.0, 0.0]}, ("problem", "a"), "total mass must be positive"),
        ({"cost": [[0, 1]]}, ("problem", "cost"), "shape [1, 2] but a and b have lengths 2 and 2"),
        ({"cost": [[0, float("nan")], [1, 0]]}, ("problem", "cost"), "NaN"),
        ({"epsilon": 0}, ("problem", "epsilon"), "greater than 0"),
        ({"epsilon": None}, ("problem", "epsilon"), "required by method 'auto'"),
        ({"x": [[0.0], [1.0]]}, ("problem", "cost"), "either `cost` or both `x` and `y`"),
        ({"cost": None}, ("problem", "cost"), "either `cost` or both `x` and `y`"),
        ({"cost": None, "x": [[0.0], [1.0]]}, ("problem", "y"), "need both x and y"),
        ({"cost": None, "x": [[0.0]], "y": [[0.0], [1.0]]}, ("problem", "x"), "x has 1 points"),
        (
            {"cost": None, "x": [[0.0], [1.0]], "y": [[0.0, 1.0], [1.0, 2.0]]},
            ("problem", "y"),
            "x has dimension 1 but y has dimension 2",
        ),
        (
            {"method": "sns", "unbalanced": {"tau_a": 1, "tau_b": 1}},
            ("problem", "unbalanced"),
            "method 'sinkhorn'",
        ),
        ({"unbalanced": {"tau_a": 0, "tau_b": 1}}, ("problem", "unbalanced", "tau_a"), "greater"),
        ({"method": "magic"}, ("problem", "method"), "Input should be"),
        ({"plan_format": "csv"}, ("problem", "plan_format"), "Input should be"),
    ],
)
def test_ot_errors_carry_the_field_path(change: dict, loc: tuple, fragment: str) -> None:
    found = errors_of({"problem": {**OT, **change}})
    assert any(l == loc and fragment in m for l, m in found), found  # noqa: E741


def test_ot_accepts_points_exact_normalize_and_unbalanced() -> None:
    points = {**OT, "cost": None, "x": [[0.0], [1.0]], "y": [[0.5], [2.0]]}
    assert JobCreate.model_validate({"problem": {**points, "method": "exact", "epsilon": None}})
    assert JobCreate.model_validate({"problem": {**OT, "b": [1.0, 2.0], "normalize": True}})
    unbalanced = {**OT, "b": [1.0, 2.0], "unbalanced": {"tau_a": 1.0, "tau_b": 2.0}}
    assert JobCreate.model_validate({"problem": unbalanced})
    big = JobCreate.model_validate({"problem": {**points, "x": [[0.0]] * 2}})
    assert big.problem.size() >= 4  # counts the n x m cost the solver will build


def test_production_settings_need_servers_and_auth() -> None:
    from app.settings import Settings

    with pytest.raises(ValidationError, match="OPTAAS_DATABASE_URL/OPTAAS_BROKER_URL"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="AUTH_ENABLED"):
        Settings(
            environment="production",
            database_url="postgresql+psycopg://h/db",
            broker_url="redis://h",
            auth_enabled=False,
        )
    assert Settings(environment="development").embedded
