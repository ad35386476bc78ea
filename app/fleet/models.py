"""SQLAlchemy row of a live worker process (refreshed by the process itself)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class WorkerPresence(Base):
    __tablename__ = "worker_presence"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    queue: Mapped[str] = mapped_column(String(16))
    gpu: Mapped[bool] = mapped_column(Boolean)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
