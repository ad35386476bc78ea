"""HTTP routes of studies and their trials. HTTP concerns only; rules live in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from app.deps import CurrentCaller, DbSession, SettingsDep
from app.studies import dispatch, service
from schemas.errors import ErrorBody
from schemas.studies import (
    ObservationIn,
    StudyCreate,
    StudyResource,
    SuggestionRequest,
    SuggestionsOut,
    TrialCreate,
    TrialPage,
    TrialResource,
    TrialState,
)

router = APIRouter(prefix="/v1/studies", tags=["studies"])

StudyId = Annotated[str, Path(max_length=64, description="Study id")]
TrialId = Annotated[str, Path(max_length=64, description="Trial id")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in (401, *codes)}


@router.post(
    "",
    status_code=201,
    response_model=StudyResource,
    responses=_errors(400, 422),
    summary="Create a study",
)
def create_study(
    body: StudyCreate, session: DbSession, caller: CurrentCaller, response: Response
) -> StudyResource:
    study = service.create(session, caller, body)
    response.headers["Location"] = f"/v1/studies/{study.id}"
    return service.resource(session, study)


@router.get("", response_model=list[StudyResource], summary="List studies, newest first")
def list_studies(
    session: DbSession,
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[StudyResource]:
    return [service.resource(session, s) for s in service.list_studies(session, caller, limit)]


@router.get(
    "/{study_id}",
    response_model=StudyResource,
    responses=_errors(404),
    summary="A study: state, counts, best point and the best-value trace",
)
def get_study(study_id: StudyId, session: DbSession, caller: CurrentCaller) -> StudyResource:
    return service.resource(session, service.get(session, caller, study_id))


@router.delete(
    "/{study_id}", response_model=StudyResource, responses=_errors(404), summary="Archive"
)
def archive_study(study_id: StudyId, session: DbSession, caller: CurrentCaller) -> StudyResource:
    return service.resource(session, service.archive(session, caller, study_id))


@router.post(
    "/{study_id}/suggestions",
    status_code=201,
    response_model=SuggestionsOut,
    responses=_errors(404, 409, 422, 500, 503),
    summary="Ask for points to evaluate (computed on a worker; pending trials are considered)",
)
def suggest(
    study_id: StudyId,
    body: SuggestionRequest,
    session: DbSession,
    caller: CurrentCaller,
    settings: SettingsDep,
) -> SuggestionsOut:
    request = service.request_suggestions(session, caller, study_id, body.count)
    # The request must be durable before a worker can look it up.
    session.commit()
    url = settings.resolved_database_url
    if not dispatch.send(request.id, time_limit_s=settings.suggestion_timeout_s):
        service.unsent(url, request.id)
    trials = service.await_suggestions(url, request.id, timeout_s=settings.suggestion_timeout_s)
    study = service.get(session, caller, study_id)
    return SuggestionsOut(trials=[service.trial_resource(study, t) for t in trials])


@router.post(
    "/{study_id}/trials",
    status_code=201,
    response_model=TrialResource,
    responses=_errors(404, 409, 422),
    summary="Add a trial at a point of your choosing, evaluated (value) or not yet",
)
def add_trial(
    study_id: StudyId, body: TrialCreate, session: DbSession, caller: CurrentCaller
) -> TrialResource:
    trial = service.add_trial(session, caller, study_id, body)
    return service.trial_resource(service.get(session, caller, study_id), trial)


@router.get(
    "/{study_id}/trials",
    response_model=TrialPage,
    responses=_errors(404, 422),
    summary="Trials in creation order",
)
def list_trials(
    study_id: StudyId,
    session: DbSession,
    caller: CurrentCaller,
    state: TrialState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> TrialPage:
    return service.list_trials(session, caller, study_id, limit=limit, cursor=cursor, state=state)


@router.get(
    "/{study_id}/trials/{trial_id}",
    response_model=TrialResource,
    responses=_errors(404),
    summary="One trial",
)
def get_trial(
    study_id: StudyId, trial_id: TrialId, session: DbSession, caller: CurrentCaller
) -> TrialResource:
    study = service.get(session, caller, study_id)
    return service.trial_resource(study, service.get_trial(session, study, trial_id))


@router.post(
    "/{study_id}/trials/{trial_id}/observation",
    response_model=TrialResource,
    responses=_errors(404, 409, 422),
    summary="Report the value (and constraint values) observed at a trial's point",
)
def observe(
    study_id: StudyId,
    trial_id: TrialId,
    body: ObservationIn,
    session: DbSession,
    caller: CurrentCaller,
) -> TrialResource:
    trial = service.observe(session, caller, study_id, trial_id, body)
    return service.trial_resource(service.get(session, caller, study_id), trial)


@router.post(
    "/{study_id}/trials/{trial_id}/fail",
    response_model=TrialResource,
    responses=_errors(404, 409),
    summary="Report that evaluating a trial failed",
)
def fail_trial(
    study_id: StudyId, trial_id: TrialId, session: DbSession, caller: CurrentCaller
) -> TrialResource:
    trial = service.fail(session, caller, study_id, trial_id)
    return service.trial_resource(service.get(session, caller, study_id), trial)
