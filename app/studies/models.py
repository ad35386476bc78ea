"""SQLAlchemy rows of studies, their trials and the suggestion requests workers answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    # The validated StudyCreate body (space, constraints, noise, prior, seed, design, acquisition).
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Bumped by every change to the set of trials; a suggestion commits only if it is unchanged
    # since the suggestion read the trials (optimistic concurrency: no two asks hand out a point
    # computed without the other's pending trials).
    revision: Mapped[int] = mapped_column(Integer, default=0)
    trial_count: Mapped[int] = mapped_column(Integer, default=0)
    # Noisy studies: the recommended point by posterior mean, cached for ``best_revision``.
    best: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    best_revision: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
        Index("ix_trials_request", "request_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(36), ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    constraint_values: Mapped[dict[str, float] | None] = mapped_column(JSONType)
    noise_sd: Mapped[float | None] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SuggestionRequest(Base):
    """One ``POST .../suggestions`` call: ``queued``, then ``done``, ``failed`` or ``expired``."""

    __tablename__ = "suggestion_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(36), ForeignKey("studies.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
