"""Business rules of jobs: validate, route, de-duplicate, create, cancel, read. No HTTP here."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import (
    IdempotencyConflict,
    InvalidSpec,
    JobFinished,
    MalformedJSON,
    NoGpuWorker,
    NotFound,
    PayloadTooLarge,
    invalid_spec,
)
from app.fleet import repository as fleet
from app.jobs import repository
from app.jobs.models import Job, TracePoint
from app.keys.service import Caller
from app.settings import Settings
from app.timeutil import utcnow
from schemas.errors import FieldError
from schemas.jobs import JobCreate, JobPage, JobResource
from workers.routing import RoutingError, choose_queue


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool


def parse_submission(body: bytes) -> JobCreate:
    """Validate a raw request body; malformed JSON is a 400, an invalid spec a 422."""
    try:
        return JobCreate.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            msg = errors[0].get("ctx", {}).get("error", errors[0]["msg"])
            raise MalformedJSON(
                f"request body is not valid JSON: {msg}",
                [FieldError(loc=["body"], msg=str(msg), type="json_invalid")],
            ) from None
        raise invalid_spec(exc) from None


def submit(
    session: Session,
    caller: Caller,
    spec: JobCreate,
    *,
    settings: Settings,
    idempotency_key: str | None,
) -> Submission:
    problem = spec.problem
    if problem.size() > settings.max_problem_elements:
        raise PayloadTooLarge(
            f"problem has {problem.size()} array elements; the limit is "
            f"{settings.max_problem_elements}",
            [FieldError(loc=["body", "problem"], msg="too many array elements")],
        )
    metadata_json = orjson.dumps(spec.metadata)
    if len(metadata_json) > settings.max_metadata_bytes:
        raise PayloadTooLarge(
            f"metadata is {len(metadata_json)} bytes; the limit is {settings.max_metadata_bytes}",
            [FieldError(loc=["body", "metadata"], msg="metadata too large")],
        )

    problem_json = problem.model_dump_json().encode()
    # Hash the canonical form (arrays as base64), so a retry that formats its JSON differently
    # is still the same request; the problem is serialized once, for storage and hash alike.
    rest = spec.model_dump_json(exclude={"problem"}).encode()
    request_hash = hashlib.sha256(problem_json + b"\0" + rest).hexdigest()
    if idempotency_key is not None:
        existing = repository.by_idempotency_key(session, caller.tenant_id, idempotency_key)
        if existing is not None:
            return Submission(_same_request(existing, request_hash), created=False)

    now = utcnow()
    queue = _route(session, spec, settings, now)
    requested = spec.options.time_limit_s or settings.default_time_limit_s
    options = problem.defaults.resolve(
        spec.options, time_limit_s=min(requested, settings.max_time_limit_s)
    )
    job = Job(
        id=str(uuid.uuid4()),
        tenant_id=caller.tenant_id,
        kind=problem.kind,
        status="queued",
        device=spec.device,
        queue=queue,
        problem=problem_json,
        options=options,
        metadata_=spec.metadata,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
        enqueued_at=now,
        send_count=1,
        attempts=0,
        cancel_requested=False,
    )
    if idempotency_key is None:
        repository.add(session, job)
        return Submission(job, created=True)
    try:
        # Only a keyed request can collide with a concurrent twin; only it pays for a savepoint.
        with session.begin_nested():
            repository.add(session, job)
    except IntegrityError:
        existing = repository.by_idempotency_key(session, caller.tenant_id, idempotency_key)
        if existing is None:
            raise
        return Submission(_same_request(existing, request_hash), created=False)
    return Submission(job, created=True)


def _same_request(existing: Job, request_hash: str) -> Job:
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request body",
            [FieldError(loc=["header", "Idempotency-Key"], msg="reused with another body")],
        )
    return existing


#: GPU presence changes on the scale of worker start-up and shut-down; asking the database on
#: every submission would add a round trip to each POST.
GPU_PRESENCE_CACHE_S = 2.0
_gpu_presence: tuple[bool, float] = (False, 0.0)


def _gpu_worker_alive(session: Session, settings: Settings, now: datetime) -> bool:
    global _gpu_presence
    alive, expires = _gpu_presence
    if time.monotonic() >= expires:
        since = now - timedelta(seconds=settings.worker_presence_ttl_s)
        alive = fleet.gpu_worker_alive(session, since)
        _gpu_presence = (alive, time.monotonic() + GPU_PRESENCE_CACHE_S)
    return alive


def _route(session: Session, spec: JobCreate, settings: Settings, now: datetime) -> str:
    capable = type(spec.problem).gpu_capable
    alive = capable and spec.device != "cpu" and _gpu_worker_alive(session, settings, now)
    try:
        return choose_queue(spec.device, kind_gpu_capable=capable, gpu_worker_alive=alive)
    except RoutingError as exc:
        if exc.reason == "kind_cpu_only":
            raise InvalidSpec(
                f"device 'gpu': {exc}", [FieldError(loc=["body", "device"], msg=str(exc))]
            ) from None
        raise NoGpuWorker(str(exc), [FieldError(loc=["body", "device"], msg=str(exc))]) from None


def get(session: Session, caller: Caller, job_id: str) -> Job:
    job = repository.get(session, job_id, tenant_id=caller.tenant_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def cancel(session: Session, caller: Caller, job_id: str) -> Job:
    """Cancel a queued job at once; ask a running one to stop (its worker polls the flag)."""
    job = get(session, caller, job_id)
    if job.status == "queued" and repository.cancel_queued(session, job_id, utcnow()):
        return get(session, caller, job_id)
    if job.status in ("queued", "running") and repository.request_cancel(session, job_id):
        return get(session, caller, job_id)
    job = get(session, caller, job_id)
    if job.status in ("succeeded", "failed"):
        raise JobFinished(f"job {job_id} already {job.status}; nothing to cancel")
    return job


def list_jobs(
    session: Session,
    caller: Caller,
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> JobPage:
    before = _decode_cursor(cursor) if cursor else None
    rows = repository.page(
        session, caller.tenant_id, limit=limit + 1, status=status, kind=kind, before=before
    )
    items, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(items[-1]) if more and items else None
    return JobPage(items=[to_resource(j) for j in items], next_cursor=next_cursor)


def _encode_cursor(job: Job) -> str:
    raw = orjson.dumps([job.created_at.isoformat(), job.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(job_id)
    except (ValueError, TypeError) as exc:
        raise InvalidSpec(
            "invalid cursor", [FieldError(loc=["query", "cursor"], msg="not a cursor we issued")]
        ) from exc


def trace(
    session: Session, caller: Caller, job_id: str, *, after: int, limit: int
) -> list[dict[str, Any]]:
    get(session, caller, job_id)
    return [
        trace_point_dict(p) for p in repository.trace(session, job_id, after=after, limit=limit)
    ]


def trace_point_dict(point: TracePoint) -> dict[str, Any]:
    return {
        "iteration": point.iteration,
        "elapsed_s": point.elapsed_s,
        "objective": point.objective,
        **point.measures,
    }


def to_resource(job: Job) -> JobResource:
    return JobResource(
        id=job.id,
        kind=job.kind,
        status=job.status,
        device=job.device,
        queue=job.queue,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        options=job.options,
        progress=job.progress,
        result=job.result,
        error=job.error,
        metadata=job.metadata_,
    )
