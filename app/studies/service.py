"""Business rules of studies: create, ask, tell, fail, read. No HTTP here.

A study's state is its rows: trials are written once as ``pending`` and moved once to
``complete`` or ``failed`` by conditional updates, so a retried tell changes nothing twice and no
trial is lost or duplicated. With the study's ``pending_timeout_s`` a trial left pending too long
becomes ``expired`` at the next ask (no longer a point being evaluated); its outcome is still
accepted. Suggestions are computed on a worker (workers/studies.py); the API
records the request, sends it, and waits for the worker's answer in the database.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.errors import Conflict, DomainError, InvalidSpec, NotFound, NotReady
from app.keys.service import Caller
from app.studies import repository
from app.studies.models import Study, SuggestionRequest, Trial
from app.studies.surrogate import study_config, study_state
from app.timeutil import utcnow
from schemas.errors import FieldError
from schemas.studies import (
    BestTrial,
    ObservationIn,
    StudyCounts,
    StudyCreate,
    StudyResource,
    TracePoint,
    TrialCreate,
    TrialPage,
    TrialResource,
)
from workers.solvers.bayesopt.space import same_choice
from workers.solvers.bayesopt.suggest import recommend


class StudyArchived(Conflict):
    pass


class TrialFinished(Conflict):
    pass


class SpaceExhausted(Conflict):
    pass


class SuggestionTimeout(NotReady):
    pass


class SuggestionFailed(DomainError):
    status_code = 500


# ----------------------------------------------------------------------------- studies


def create(session: Session, caller: Caller, body: StudyCreate) -> Study:
    spec = body.model_dump(mode="json")
    if spec["seed"] is None:
        # Recorded, so that the study's suggestions can be replayed.
        spec["seed"] = random.SystemRandom().randrange(2**31)
    now = utcnow()
    study = Study(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        name=body.name,
        state="active",
        spec=spec,
        revision=0,
        trial_count=0,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, study)
    return study


def get(session: Session, caller: Caller, study_id: str) -> Study:
    study = repository.get_study(session, study_id, tenant_id=caller.tenant_id)
    if study is None:
        raise NotFound(f"no study {study_id!r}")
    return study


def list_studies(session: Session, caller: Caller, limit: int) -> list[Study]:
    return repository.page_studies(session, caller.tenant_id, limit=limit, before=None)


def archive(session: Session, caller: Caller, study_id: str) -> Study:
    study = get(session, caller, study_id)
    if study.state != "archived":
        repository.set_state(session, study.id, "archived", utcnow())
    return get(session, caller, study_id)


def _active(study: Study) -> None:
    if study.state != "active":
        raise StudyArchived(f"study {study.id} is archived")


# ----------------------------------------------------------------------------- ask


def request_suggestions(
    session: Session, caller: Caller, study_id: str, count: int
) -> SuggestionRequest:
    study = get(session, caller, study_id)
    _active(study)
    _expire_stale(session, study)
    request = SuggestionRequest(
        id=str(uuid.uuid4()),
        study_id=study.id,
        count=count,
        status="queued",
        created_at=utcnow(),
    )
    repository.add(session, request)
    return request


def _expire_stale(session: Session, study: Study) -> None:
    """Trials pending longer than the study's ``pending_timeout_s`` stop counting as being
    evaluated, so the suggestion about to be computed no longer avoids their points."""
    timeout = study.spec.get("pending_timeout_s")
    if not timeout:
        return
    now = utcnow()
    if repository.expire_pending(
        session, study.id, created_before=now - timedelta(seconds=float(timeout))
    ):
        repository.bump_revision(session, study.id, now=now)


def unsent(url: str, request_id: str) -> None:
    with unit_of_work(url) as session:
        repository.finish_request(
            session,
            request_id,
            status="failed",
            now=utcnow(),
            error={"error": "BrokerUnavailable", "detail": "the queue could not be reached"},
        )
    raise SuggestionTimeout("the work queue is unreachable; retry shortly")


def await_suggestions(url: str, request_id: str, *, timeout_s: float) -> list[Trial]:
    """Wait for a worker's answer; on time-out withdraw the request so no late trials appear."""
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        with unit_of_work(url) as session:
            request = repository.get_request(session, request_id)
            assert request is not None
            if request.status == "queued" and time.monotonic() >= deadline:
                if repository.finish_request(session, request_id, status="expired", now=utcnow()):
                    raise SuggestionTimeout(
                        f"no worker answered within {timeout_s:g} s; nothing was handed out, "
                        "retry the request"
                    )
                request = repository.get_request(session, request_id)
                assert request is not None
            if request.status == "done":
                return repository.trials_of_request(session, request_id)
            if request.status == "failed":
                error = request.error or {}
                name, detail = error.get("error", ""), error.get("detail", "")
                if name == "SpaceExhausted":
                    raise SpaceExhausted(detail)
                if name == "StudyArchived":
                    raise StudyArchived(detail)
                if name in ("BrokerUnavailable", "Conflict"):
                    raise SuggestionTimeout(detail)
                raise SuggestionFailed(f"the suggestion could not be computed: {detail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


# ----------------------------------------------------------------------------- tell


def get_trial(session: Session, study: Study, trial_id: str) -> Trial:
    trial = repository.get_trial(session, study.id, trial_id)
    if trial is None:
        raise NotFound(f"study {study.id} has no trial {trial_id!r}")
    return trial


def _check_outcome(
    study: Study, constraints: dict[str, float], noise_sd: float | None
) -> dict[str, float]:
    names = [c["name"] for c in study.spec.get("constraints", [])]
    errors = [
        FieldError(loc=["body", "constraints", k], msg="not a constraint of this study")
        for k in constraints
        if k not in names
    ]
    errors += [
        FieldError(loc=["body", "constraints", k], msg="missing: report every constraint")
        for k in names
        if k not in constraints
    ]
    if study.spec["noise"] == "known" and noise_sd is None:
        errors.append(
            FieldError(loc=["body", "noise_sd"], msg="required: the study's noise is known")
        )
    if errors:
        raise InvalidSpec(f"invalid observation: {errors[0].loc[-1]}: {errors[0].msg}", errors)
    return {k: float(constraints[k]) for k in names}


def observe(
    session: Session, caller: Caller, study_id: str, trial_id: str, body: ObservationIn
) -> Trial:
    study = get(session, caller, study_id)
    trial = get_trial(session, study, trial_id)
    constraints = _check_outcome(study, body.constraints, body.noise_sd)
    if repository.complete_trial(
        session,
        trial.id,
        value=body.value,
        constraints=constraints,
        noise_sd=body.noise_sd,
        now=utcnow(),
    ):
        repository.bump_revision(session, study.id, now=utcnow())
        return get_trial(session, study, trial_id)
    trial = get_trial(session, study, trial_id)
    same = (
        trial.state == "complete"
        and trial.value == body.value
        and (trial.constraint_values or {}) == constraints
    )
    if same:
        return trial  # a retried tell: already recorded, nothing changes
    raise TrialFinished(f"trial {trial_id} is already {trial.state}")


def fail(session: Session, caller: Caller, study_id: str, trial_id: str) -> Trial:
    study = get(session, caller, study_id)
    trial = get_trial(session, study, trial_id)
    if repository.fail_trial(session, trial.id, utcnow()):
        repository.bump_revision(session, study.id, now=utcnow())
        return get_trial(session, study, trial_id)
    trial = get_trial(session, study, trial_id)
    if trial.state == "failed":
        return trial
    raise TrialFinished(f"trial {trial_id} is already {trial.state}")


def add_trial(session: Session, caller: Caller, study_id: str, body: TrialCreate) -> Trial:
    """A point the user chose; with a value it is an observation, without one it is pending."""
    study = get(session, caller, study_id)
    _active(study)
    params = check_params(study.spec["space"], body.params)
    constraints: dict[str, float] = {}
    if body.value is not None:
        constraints = _check_outcome(study, body.constraints, body.noise_sd)
    elif body.constraints:
        raise InvalidSpec(
            "constraints need a value",
            [FieldError(loc=["body", "constraints"], msg="report constraints with a value")],
        )
    now = utcnow()
    repository.bump_revision(session, study.id, now=now, new_trials=1)
    study = get(session, caller, study_id)  # the reserved number, under the row lock
    trial = Trial(
        id=str(uuid.uuid4()),
        study_id=study.id,
        number=study.trial_count,
        params=params,
        state="pending" if body.value is None else "complete",
        source="user",
        value=body.value,
        constraint_values=constraints if body.value is not None else None,
        noise_sd=body.noise_sd,
        created_at=now,
        completed_at=now if body.value is not None else None,
    )
    repository.add(session, trial)
    return trial


def check_params(space: Sequence[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The params of a user trial, checked against the space; errors name ``body.params.<name>``."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    names = {p["name"] for p in space}
    for key in params:
        if key not in names:
            errors.append(FieldError(loc=["body", "params", key], msg="not a param of this study"))
    for p in space:
        name, loc = p["name"], ["body", "params", p["name"]]
        if name not in params:
            errors.append(FieldError(loc=loc, msg="missing"))
            continue
        value = params[name]
        if p["type"] == "categorical":
            # the engine's equality: a stored 1e20 may come back from JSON as an int
            match = [c for c in p["choices"] if same_choice(c, value)]
            if not match:
                errors.append(FieldError(loc=loc, msg=f"must be one of {p['choices']}"))
            else:
                out[name] = match[0]
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        # an int is always finite (and math.isfinite would overflow on a huge one)
        if not numeric or (isinstance(value, float) and not math.isfinite(value)):
            errors.append(FieldError(loc=loc, msg="must be a finite number"))
        elif not p["low"] <= value <= p["high"]:
            errors.append(FieldError(loc=loc, msg=f"must lie in [{p['low']}, {p['high']}]"))
        elif p["type"] == "int":
            if value != int(value):
                errors.append(FieldError(loc=loc, msg="must be an integer"))
            else:
                out[name] = int(value)
        else:
            out[name] = float(value)
    if errors:
        first = errors[0]
        raise InvalidSpec(f"invalid params: {first.loc[-1]}: {first.msg}", errors)
    return out


# ----------------------------------------------------------------------------- read


def list_trials(
    session: Session,
    caller: Caller,
    study_id: str,
    *,
    limit: int,
    cursor: str | None,
    state: str | None,
) -> TrialPage:
    study = get(session, caller, study_id)
    after = 0
    if cursor is not None:
        # our cursors are trial numbers: ASCII digits that fit a BIGINT
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
            raise InvalidSpec(
                "invalid cursor",
                [FieldError(loc=["query", "cursor"], msg="not a cursor we issued")],
            )
        after = int(cursor)
    rows = repository.page_trials(session, study.id, limit=limit + 1, after=after, state=state)
    items, more = rows[:limit], len(rows) > limit
    return TrialPage(
        items=[trial_resource(study, t) for t in items],
        next_cursor=str(items[-1].number) if more and items else None,
    )


def _feasible(study: Study, trial: Trial) -> bool | None:
    if trial.state != "complete":
        return None
    values = trial.constraint_values or {}
    return all(values.get(c["name"], math.inf) <= c["upper"] for c in study.spec["constraints"])


def trial_resource(study: Study, trial: Trial) -> TrialResource:
    return TrialResource(
        id=trial.id,
        study_id=trial.study_id,
        number=trial.number,
        params=trial.params,
        state=trial.state,
        source=trial.source,
        value=trial.value,
        constraints=trial.constraint_values or {},
        noise_sd=trial.noise_sd,
        feasible=_feasible(study, trial),
        created_at=trial.created_at,
        completed_at=trial.completed_at,
    )


def _better(study: Study, a: float, b: float | None) -> bool:
    if b is None:
        return True
    return a < b if study.spec["direction"] == "minimize" else a > b


def resource(session: Session, study: Study) -> StudyResource:
    trials = repository.trials(session, study.id)
    done = sorted(
        (t for t in trials if t.state == "complete" and t.value is not None),
        key=lambda t: (t.completed_at, t.number),
    )
    trace, incumbent, best_trial = [], None, None
    for i, trial in enumerate(done, start=1):
        assert trial.value is not None
        if _feasible(study, trial) and _better(study, trial.value, incumbent):
            incumbent, best_trial = trial.value, trial
        trace.append(TracePoint(trials=i, best_value=incumbent))
    counts = repository.counts(session, study.id)
    best = None
    if study.spec["noise"] != "none" and done:
        best = _recommended(session, study, trials)
    elif best_trial is not None:
        assert best_trial.value is not None
        best = BestTrial(
            trial_id=best_trial.id,
            number=best_trial.number,
            params=best_trial.params,
            value=best_trial.value,
            based_on="observed_value",
        )
    spec = study.spec
    return StudyResource(
        id=study.id,
        name=study.name,
        state=study.state,
        direction=spec["direction"],
        space=spec["space"],
        constraints=spec["constraints"],
        noise=spec["noise"],
        prior=spec["prior"],
        seed=spec["seed"],
        initial_design=spec.get("initial_design"),
        acquisition=spec.get("acquisition", "logei"),
        pending_timeout_s=spec.get("pending_timeout_s"),
        counts=StudyCounts(
            pending=counts.get("pending", 0),
            complete=counts.get("complete", 0),
            failed=counts.get("failed", 0),
            expired=counts.get("expired", 0),
            total=sum(counts.values()),
        ),
        best=best,
        trace=trace,
        created_at=study.created_at,
        updated_at=study.updated_at,
    )


def _recommended(session: Session, study: Study, trials: Sequence[Trial]) -> BestTrial | None:
    """Noisy studies: the observed point with the best posterior mean, cached per revision."""
    if study.best_revision == study.revision:
        return BestTrial.model_validate(study.best) if study.best else None
    state = study_state(trials)
    rec = recommend(study_config(study.spec), state.observations)
    best = None
    if rec is not None:
        trial = state.observed[rec.index]
        best = BestTrial(
            trial_id=trial.id,
            number=trial.number,
            params=trial.params,
            value=rec.value,
            predicted_mean=rec.predicted_mean,
            based_on="posterior_mean",
        )
    repository.cache_best(
        session, study.id, best.model_dump(mode="json") if best else None, study.revision
    )
    return best
