"""HTTP routes of jobs. HTTP concerns only; rules live in app/jobs/service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from app.deps import CurrentCaller, DbSession, RawBody, SettingsDep
from app.jobs import dispatch, repository, service
from app.jobs.events import job_events
from schemas.errors import ErrorBody
from schemas.jobs import JobPage, JobResource, JobStatus, TracePointOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, description="Job id")]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in (401, *codes)}


@router.post(
    "",
    status_code=202,
    response_model=JobResource,
    responses=_errors(400, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}}},
        }
    },
    summary="Submit a problem",
)
def create_job(
    body: RawBody,
    session: DbSession,
    caller: CurrentCaller,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobResource:
    spec = service.parse_submission(body)
    submission = service.submit(
        session, caller, spec, settings=settings, idempotency_key=idempotency_key
    )
    job = submission.job
    if submission.created:
        # The row must be durable before any worker can receive its id.
        session.commit()
        if not dispatch.send(job.id, job.queue, job.options["time_limit_s"]):
            repository.mark_unsent(session, job.id)
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return service.to_resource(job)


@router.get("", response_model=JobPage, responses=_errors(422), summary="List jobs, newest first")
def list_jobs(
    session: DbSession,
    caller: CurrentCaller,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JobPage:
    return service.list_jobs(session, caller, status=status, kind=kind, limit=limit, cursor=cursor)


@router.get("/{job_id}", response_model=JobResource, responses=_errors(404), summary="Get a job")
def get_job(job_id: JobId, session: DbSession, caller: CurrentCaller) -> JobResource:
    return service.to_resource(service.get(session, caller, job_id))


@router.get(
    "/{job_id}/trace",
    response_model=list[TracePointOut],
    responses=_errors(404, 422),
    summary="Convergence trace (readable while the job runs)",
)
def get_trace(
    job_id: JobId,
    session: DbSession,
    caller: CurrentCaller,
    after: Annotated[int, Query(ge=-1, description="Only points with iteration > after")] = -1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    return service.trace(session, caller, job_id, after=after, limit=limit)


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **_errors(404)},
    response_class=StreamingResponse,
    summary="Server-sent events: status, progress, done",
)
def stream_events(
    job_id: JobId, session: DbSession, caller: CurrentCaller, settings: SettingsDep
) -> StreamingResponse:
    service.get(session, caller, job_id)  # 404 before the stream starts
    return StreamingResponse(
        job_events(settings, caller, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobResource,
    responses=_errors(404, 409),
    summary="Cancel: queued jobs at once, running ones within about a second",
)
def cancel_job(job_id: JobId, session: DbSession, caller: CurrentCaller) -> JobResource:
    return service.to_resource(service.cancel(session, caller, job_id))
