"""Every table, imported in one place for Alembic's autogenerate and for ``Base.metadata``."""

from app.db import Base
from app.fleet.models import WorkerPresence
from app.jobs.models import Job, TracePoint
from app.keys.models import ApiKey
from app.studies.models import Study, SuggestionRequest, Trial

__all__ = [
    "ApiKey",
    "Base",
    "Job",
    "Study",
    "SuggestionRequest",
    "TracePoint",
    "Trial",
    "WorkerPresence",
]
