"""Every query on studies, trials and suggestion requests. Mutations only ``flush``.

Two rules keep concurrent callers consistent through the database: a study's ``revision`` is
bumped by every change to its set of trials, and a suggestion is written only under the revision
it was computed from (``bump_revision(expected=...)``); request and trial state changes are
conditional updates, so a retried or raced call changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from app.db import updated_one
from app.studies.models import Study, SuggestionRequest, Trial


def add(session: Session, row: Study | Trial | SuggestionRequest) -> None:
    session.add(row)
    session.flush()


def get_study(session: Session, study_id: str, *, tenant_id: str | None = None) -> Study | None:
    stmt = select(Study).where(Study.id == study_id)
    if tenant_id is not None:
        stmt = stmt.where(Study.tenant_id == tenant_id)
    return session.scalar(stmt.execution_options(populate_existing=True))


def page_studies(
    session: Session, tenant_id: str, *, limit: int, before: tuple[datetime, str] | None
) -> list[Study]:
    stmt = select(Study).where(Study.tenant_id == tenant_id)
    if before is not None:
        created, study_id = before
        stmt = stmt.where(
            (Study.created_at < created) | ((Study.created_at == created) & (Study.id < study_id))
        )
    return list(
        session.scalars(stmt.order_by(Study.created_at.desc(), Study.id.desc()).limit(limit))
    )


def bump_revision(
    session: Session,
    study_id: str,
    *,
    now: datetime,
    new_trials: int = 0,
    expected_trial_count: int | None = None,
) -> bool:
    """Advance the study's revision and reserve ``new_trials`` trial numbers.

    With ``expected_trial_count`` the update applies only if no trial was created since the
    caller read the study: a suggestion computed without another ask's pending trials is refused
    (the caller recomputes) instead of handing out a point twice. It is refused as well once the
    study is archived, so trials computed across an archive are never written. On PostgreSQL the
    update also holds the study's row lock until commit, so reserved trial numbers cannot collide.
    """
    stmt = update(Study).where(Study.id == study_id)
    if expected_trial_count is not None:
        stmt = stmt.where(Study.trial_count == expected_trial_count, Study.state == "active")
    result = session.execute(
        stmt.values(
            revision=Study.revision + 1,
            trial_count=Study.trial_count + new_trials,
            updated_at=now,
        )
    )
    return updated_one(result)


def set_state(session: Session, study_id: str, state: str, now: datetime) -> None:
    session.execute(update(Study).where(Study.id == study_id).values(state=state, updated_at=now))


def cache_best(session: Session, study_id: str, best: dict[str, Any] | None, revision: int) -> None:
    session.execute(
        update(Study)
        .where(Study.id == study_id, Study.revision == revision)
        .values(best=best, best_revision=revision)
    )


def trials(session: Session, study_id: str) -> list[Trial]:
    """All trials of a study in creation order (the order observations are replayed in)."""
    return list(
        session.scalars(
            select(Trial)
            .where(Trial.study_id == study_id)
            .order_by(Trial.number)
            .execution_options(populate_existing=True)
        )
    )


def page_trials(
    session: Session, study_id: str, *, limit: int, after: int, state: str | None
) -> list[Trial]:
    stmt = select(Trial).where(Trial.study_id == study_id, Trial.number > after)
    if state is not None:
        stmt = stmt.where(Trial.state == state)
    return list(session.scalars(stmt.order_by(Trial.number).limit(limit)))


def get_trial(session: Session, study_id: str, trial_id: str) -> Trial | None:
    return session.scalar(
        select(Trial)
        .where(Trial.id == trial_id, Trial.study_id == study_id)
        .execution_options(populate_existing=True)
    )


def trials_of_request(session: Session, request_id: str) -> list[Trial]:
    return list(
        session.scalars(select(Trial).where(Trial.request_id == request_id).order_by(Trial.number))
    )


def counts(session: Session, study_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Trial.state, func.count()).where(Trial.study_id == study_id).group_by(Trial.state)
    )
    return {state: int(n) for state, n in rows}


def expire_pending(session: Session, study_id: str, *, created_before: datetime) -> int:
    """Mark the study's trials pending since before ``created_before`` as ``expired``; returns
    how many."""
    result = session.execute(
        update(Trial)
        .where(
            Trial.study_id == study_id,
            Trial.state == "pending",
            Trial.created_at < created_before,
        )
        .values(state="expired")
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


# A trial that expired is still waiting for its outcome: a late tell completes it.
_OPEN = ("pending", "expired")


def complete_trial(
    session: Session,
    trial_id: str,
    *,
    value: float,
    constraints: dict[str, float],
    noise_sd: float | None,
    now: datetime,
) -> bool:
    result = session.execute(
        update(Trial)
        .where(Trial.id == trial_id, Trial.state.in_(_OPEN))
        .values(
            state="complete",
            value=value,
            constraint_values=constraints,
            noise_sd=noise_sd,
            completed_at=now,
        )
    )
    return updated_one(result)


def fail_trial(session: Session, trial_id: str, now: datetime) -> bool:
    result = session.execute(
        update(Trial)
        .where(Trial.id == trial_id, Trial.state.in_(_OPEN))
        .values(state="failed", completed_at=now)
    )
    return updated_one(result)


def get_request(session: Session, request_id: str) -> SuggestionRequest | None:
    return session.scalar(
        select(SuggestionRequest)
        .where(SuggestionRequest.id == request_id)
        .execution_options(populate_existing=True)
    )


def finish_request(
    session: Session,
    request_id: str,
    *,
    status: str,
    now: datetime,
    error: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    from_status: Sequence[str] = ("queued",),
) -> bool:
    result = session.execute(
        update(SuggestionRequest)
        .where(SuggestionRequest.id == request_id, SuggestionRequest.status.in_(from_status))
        .values(status=status, finished_at=now, error=error, info=info)
    )
    return updated_one(result)
