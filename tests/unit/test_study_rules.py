"""Study rules that bad input must not slip past: schema checks, user-trial params, cursors, and
the archive that races a suggestion. On a real SQLite database built by the migrations; the HTTP
path of the same errors is covered by the integration suite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app import migrate
from app.db import unit_of_work
from app.errors import InvalidSpec
from app.keys.service import Caller
from app.settings import Settings
from app.studies import repository, service
from app.studies.surrogate import study_state
from app.timeutil import utcnow
from schemas.problems.bayesopt import BayesoptBenchmarkProblem
from schemas.studies import ObservationIn, StudyCreate, TrialCreate

ALICE = Caller(tenant_id="alice", key_name="a")
SPACE: list[dict[str, Any]] = [
    {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "n", "type": "int", "low": 1, "high": 10},
    {"name": "c", "type": "categorical", "choices": ["a", 1e20, True]},
]


def first_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[Any, ...], str]:
    err = exc.value.errors()[0]
    return tuple(err["loc"]), err["type"]


@pytest.mark.parametrize(
    ("choices", "loc"),
    [([1, 1.0], ("space", 0, "choices", 1)), (["a", 0.0, -0.0], ("space", 0, "choices", 2))],
)
def test_choices_equal_to_the_engine_are_duplicates(choices: list[Any], loc: tuple) -> None:
    body = {"name": "s", "space": [{"name": "c", "type": "categorical", "choices": choices}]}
    with pytest.raises(ValidationError) as exc:
        StudyCreate.model_validate(body)
    assert first_error(exc) == (loc, "duplicate_choice")


def test_true_and_one_are_distinct_choices() -> None:
    body = {"name": "s", "space": [{"name": "c", "type": "categorical", "choices": [True, 1]}]}
    assert StudyCreate.model_validate(body).space[0].choices == [True, 1]


@pytest.mark.parametrize(
    ("param", "loc"),
    [
        ({"type": "float", "low": -1e308, "high": 1e308}, ("space", 0, "low")),
        ({"type": "int", "low": 0, "high": 1e20}, ("space", 0, "high")),
    ],
)
def test_bounds_too_large_to_encode_are_refused(param: dict[str, Any], loc: tuple) -> None:
    with pytest.raises(ValidationError) as exc:
        StudyCreate.model_validate({"name": "s", "space": [{"name": "p", **param}]})
    assert first_error(exc) == (loc, "bound_too_large")


def test_wide_log_float_ranges_stay_allowed() -> None:
    param = {"name": "p", "type": "float", "low": 1e-12, "high": 1e30, "log": True}
    assert StudyCreate.model_validate({"name": "s", "space": [param]}).space[0].high == 1e30


@pytest.mark.parametrize("function", ["levy", "rosenbrock"])
def test_benchmark_functions_that_need_two_dimensions(function: str) -> None:
    body = {"kind": "bayesopt_benchmark", "function": function, "dim": 1}
    with pytest.raises(ValidationError) as exc:
        BayesoptBenchmarkProblem.model_validate(body)
    assert first_error(exc)[0] == ("dim",)
    assert BayesoptBenchmarkProblem.model_validate({**body, "dim": 2}).dim == 2


def test_user_params_are_checked_without_overflow() -> None:
    with pytest.raises(InvalidSpec) as exc:
        service.check_params(SPACE, {"x": 0.5, "n": 10**400, "c": "a"})
    assert [e.loc for e in exc.value.fields] == [["body", "params", "n"]]
    # A stored 1e20 choice may come back from JSON as an int: both spellings match it.
    for spelled in (1e20, 10**20):
        assert service.check_params(SPACE, {"x": 0.5, "n": 3, "c": spelled})["c"] == 1e20
    with pytest.raises(InvalidSpec):
        service.check_params(SPACE, {"x": 0.5, "n": 3, "c": 1})  # True is not 1


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = Settings(data_dir=tmp_path)
    migrate.upgrade(s.resolved_database_url)
    yield s


def test_cursors_we_did_not_issue_are_422(settings: Settings) -> None:
    with unit_of_work(settings.resolved_database_url) as session:
        study = service.create(
            session, ALICE, StudyCreate.model_validate({"name": "s", "space": SPACE})
        )
        for cursor in ["\u00b2", "9" * 32, "-1", "abc"]:
            with pytest.raises(InvalidSpec) as exc:
                service.list_trials(session, ALICE, study.id, limit=10, cursor=cursor, state=None)
            assert exc.value.fields[0].loc == ["query", "cursor"]
        page = service.list_trials(session, ALICE, study.id, limit=10, cursor="0", state=None)
        assert page.items == []


def test_suggestions_computed_across_an_archive_are_not_written(settings: Settings) -> None:
    url = settings.resolved_database_url
    with unit_of_work(url) as session:
        study = service.create(
            session, ALICE, StudyCreate.model_validate({"name": "s", "space": SPACE})
        )
        study_id, seen = study.id, study.trial_count
    with unit_of_work(url) as session:
        service.archive(session, ALICE, study_id)
    with unit_of_work(url) as session:
        # what the worker's write does after computing from the state it read before the archive
        ok = repository.bump_revision(
            session, study_id, now=utcnow(), new_trials=1, expected_trial_count=seen
        )
        assert not ok
        assert repository.get_study(session, study_id).trial_count == seen  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        (0, "greater_than"),
        (-1.0, "greater_than"),
        (float("nan"), "finite_number"),
        (1e9, "less_than_equal"),
        (True, "float_type"),
        ("60", "float_type"),
    ],
)
def test_pending_timeout_must_be_a_positive_number(bad: Any, kind: str) -> None:
    with pytest.raises(ValidationError) as exc:
        StudyCreate.model_validate({"name": "s", "space": SPACE, "pending_timeout_s": bad})
    assert first_error(exc) == (("pending_timeout_s",), kind)
    body = {"name": "s", "space": SPACE, "pending_timeout_s": 60}
    assert StudyCreate.model_validate(body).pending_timeout_s == 60.0


@pytest.mark.parametrize("timeout", [None, 60.0])
def test_stale_pending_trials_expire_at_the_next_ask(
    settings: Settings, timeout: float | None
) -> None:
    """A trial pending longer than ``pending_timeout_s`` becomes ``expired`` when a suggestion
    is requested (and stops being a pending point); a fresh one stays pending. An expired trial
    still takes its observation, or a ``fail``. Without a timeout nothing expires."""
    url = settings.resolved_database_url
    body: dict[str, Any] = {"name": "s", "space": SPACE, "pending_timeout_s": timeout}
    point = {"x": 0.5, "n": 3, "c": "a"}
    with unit_of_work(url) as session:
        study = service.create(session, ALICE, StudyCreate.model_validate(body))
        ids = [
            service.add_trial(
                session, ALICE, study.id, TrialCreate.model_validate({"params": {**point, "n": n}})
            ).id
            for n in (1, 2, 3)
        ]
        study_id = study.id
    with unit_of_work(url) as session:  # the first two were handed out two minutes ago
        for trial_id in ids[:2]:
            trial = repository.get_trial(session, study_id, trial_id)
            assert trial is not None
            trial.created_at = utcnow() - timedelta(seconds=120)
    with unit_of_work(url) as session:
        revision = service.get(session, ALICE, study_id).revision
        service.request_suggestions(session, ALICE, study_id, 1)
    with unit_of_work(url) as session:
        study = service.get(session, ALICE, study_id)
        states = [service.get_trial(session, study, i).state for i in ids]
        counts = service.resource(session, study).counts
        pending = study_state(repository.trials(session, study_id)).pending
        if timeout is None:
            assert states == ["pending"] * 3 and study.revision == revision
            assert len(pending) == 3
            return
        assert states == ["expired", "expired", "pending"]
        assert study.revision == revision + 1  # the suggestion reads a new state
        assert (counts.pending, counts.expired, counts.total) == (1, 2, 3)
        assert pending == [{**point, "n": 3}]
    with unit_of_work(url) as session:  # the late outcome is not lost
        done = service.observe(
            session, ALICE, study_id, ids[0], ObservationIn.model_validate({"value": 2.5})
        )
        assert (done.state, done.value) == ("complete", 2.5)
        assert service.fail(session, ALICE, study_id, ids[1]).state == "failed"
