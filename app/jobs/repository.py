"""Every query on jobs and trace points. Mutations only ``flush``; callers own the transaction.

State changes are conditional updates (``UPDATE .. WHERE status = ..``) so that the API, the
reconciler and several workers racing on one job agree through the database, not through luck.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.db import updated_one
from app.jobs.models import Job, TracePoint

FINISHED = ("succeeded", "failed", "cancelled")


def add(session: Session, job: Job) -> None:
    session.add(job)
    session.flush()


def get(session: Session, job_id: str, *, tenant_id: str | None = None) -> Job | None:
    stmt = select(Job).where(Job.id == job_id)
    if tenant_id is not None:
        stmt = stmt.where(Job.tenant_id == tenant_id)
    return session.scalar(stmt.execution_options(populate_existing=True))


def get_with_problem(session: Session, job_id: str) -> Job | None:
    from sqlalchemy.orm import undefer

    return session.scalar(select(Job).where(Job.id == job_id).options(undefer(Job.problem)))


def by_idempotency_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def page(
    session: Session,
    tenant_id: str,
    *,
    limit: int,
    status: str | None = None,
    kind: str | None = None,
    before: tuple[datetime, str] | None = None,
) -> list[Job]:
    """Newest first; ``before`` is the (created_at, id) of the last item of the previous page."""
    stmt = select(Job).where(Job.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if before is not None:
        created, job_id = before
        stmt = stmt.where(
            or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id))
        )
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def mark_unsent(session: Session, job_id: str) -> None:
    """The broker refused the message: let the reconciler send it at its next pass."""
    session.execute(
        update(Job).where(Job.id == job_id, Job.status == "queued").values(enqueued_at=None)
    )


def mark_sent(session: Session, job_id: str, now: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(enqueued_at=now, send_count=Job.send_count + 1)
    )


def cancel_queued(session: Session, job_id: str, now: datetime) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", finished_at=now, cancel_requested=True)
    )
    return updated_one(result)


def request_cancel(session: Session, job_id: str) -> bool:
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running").values(cancel_requested=True)
    )
    return updated_one(result)


def claim(
    session: Session, job_id: str, *, worker: str, now: datetime, stale_before: datetime
) -> bool:
    """Take a queued job, or a running one whose worker stopped heartbeating (it died)."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == "queued",
                and_(Job.status == "running", Job.heartbeat_at < stale_before),
            ),
        )
        .values(
            status="running",
            attempts=Job.attempts + 1,
            claimed_by=worker,
            heartbeat_at=now,
            started_at=now,
            progress=None,
        )
    )
    return updated_one(result)


def take_over(
    session: Session, job_id: str, *, dead_owner: str, worker: str, now: datetime
) -> bool:
    """Take a running job whose owner is known to be dead (a process on this host that is gone)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.claimed_by == dead_owner)
        .values(
            attempts=Job.attempts + 1,
            claimed_by=worker,
            heartbeat_at=now,
            started_at=now,
            progress=None,
        )
    )
    return updated_one(result)


def heartbeat(
    session: Session,
    job_id: str,
    *,
    worker: str,
    attempt: int,
    now: datetime,
    progress: dict[str, Any] | None,
) -> tuple[bool, bool]:
    """Refresh the lease; return (still ours, cancellation requested)."""
    values: dict[str, Any] = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = progress
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "running",
            Job.claimed_by == worker,
            Job.attempts == attempt,
        )
        .values(**values)
        .returning(Job.cancel_requested)
    )
    row = result.first()
    if row is None:
        return False, False
    return True, bool(row[0])


def finish(
    session: Session,
    job_id: str,
    *,
    worker: str,
    attempt: int,
    status: str,
    now: datetime,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
    progress: dict[str, Any] | None,
) -> bool:
    """Record the outcome, only if this worker's attempt still owns the job."""
    outcome = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "running",
            Job.claimed_by == worker,
            Job.attempts == attempt,
        )
        .values(
            status=status,
            finished_at=now,
            result=result,
            error=error,
            progress=progress,
            heartbeat_at=now,
        )
    )
    return updated_one(outcome)


def abandon(
    session: Session,
    job_id: str,
    *,
    status: str,
    now: datetime,
    error: dict[str, Any] | None,
) -> bool:
    """End a job that is not finished without a result (poisoned, unparseable, or cancelled)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.not_in(FINISHED))
        .values(status=status, finished_at=now, error=error)
    )
    return updated_one(result)


def stale_running(session: Session, stale_before: datetime, limit: int = 500) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(Job.status == "running", Job.heartbeat_at < stale_before).limit(limit)
        )
    )


def release(session: Session, job_id: str, *, owner: str | None, stale_before: datetime) -> bool:
    """Put a running job whose worker vanished back in the queue (its trace is rewritten)."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "running",
            Job.claimed_by == owner,
            Job.heartbeat_at < stale_before,
        )
        .values(status="queued", claimed_by=None, enqueued_at=None, progress=None)
    )
    return updated_one(result)


def unsent_queued(session: Session, sent_before: datetime, limit: int = 500) -> list[Job]:
    """Queued jobs never sent, or sent long enough ago that the message may have been lost."""
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.status == "queued",
                or_(Job.enqueued_at.is_(None), Job.enqueued_at < sent_before),
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
    )


def reroute(session: Session, job_id: str, *, from_queue: str, to_queue: str) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued", Job.queue == from_queue)
        .values(queue=to_queue)
    )
    return updated_one(result)


def queue_frontier(
    session: Session, queue: str, since: datetime
) -> tuple[datetime | None, datetime | None]:
    """Among jobs of ``queue`` started since ``since``: the latest send time consumers reached
    (messages are consumed in order, so older unstarted ones were skipped) and the latest start."""
    row = session.execute(
        select(func.max(Job.enqueued_at), func.max(Job.started_at)).where(
            Job.queue == queue, Job.started_at >= since
        )
    ).one()
    return row[0], row[1]


def insert_trace(session: Session, job_id: str, points: Sequence[dict[str, Any]]) -> None:
    if not points:
        return
    rows = [
        {
            "job_id": job_id,
            "iteration": int(p["iteration"]),
            "elapsed_s": float(p["elapsed_s"]),
            "objective": p.get("objective"),
            "measures": {k: v for k, v in p.items() if k not in _TRACE_COLUMNS},
        }
        for p in points
    ]
    session.execute(insert(TracePoint), rows)


_TRACE_COLUMNS = frozenset({"iteration", "elapsed_s", "objective"})


def delete_trace(session: Session, job_id: str) -> None:
    session.execute(delete(TracePoint).where(TracePoint.job_id == job_id))


def trace(session: Session, job_id: str, *, after: int, limit: int) -> list[TracePoint]:
    return list(
        session.scalars(
            select(TracePoint)
            .where(TracePoint.job_id == job_id, TracePoint.iteration > after)
            .order_by(TracePoint.iteration)
            .limit(limit)
        )
    )
