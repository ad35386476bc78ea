"""Queries on worker presence rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.fleet.models import WorkerPresence


def touch(session: Session, *, name: str, queue: str, gpu: bool, now: datetime) -> None:
    result = session.execute(
        update(WorkerPresence)
        .where(WorkerPresence.name == name)
        .values(queue=queue, gpu=gpu, last_seen=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(WorkerPresence(name=name, queue=queue, gpu=gpu, last_seen=now))
    session.flush()


def remove(session: Session, name: str) -> None:
    session.execute(delete(WorkerPresence).where(WorkerPresence.name == name))


def gpu_worker_alive(session: Session, seen_after: datetime) -> bool:
    return (
        session.scalar(
            select(WorkerPresence.name)
            .where(WorkerPresence.gpu.is_(True), WorkerPresence.last_seen >= seen_after)
            .limit(1)
        )
        is not None
    )


def live(session: Session, seen_after: datetime) -> list[WorkerPresence]:
    return list(
        session.scalars(select(WorkerPresence).where(WorkerPresence.last_seen >= seen_after))
    )


def prune(session: Session, seen_before: datetime) -> None:
    session.execute(delete(WorkerPresence).where(WorkerPresence.last_seen < seen_before))
