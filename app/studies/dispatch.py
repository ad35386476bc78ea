"""Send a committed suggestion request to the studies queue (studies and CPU workers)."""

from __future__ import annotations

from workers.celery_app import publish
from workers.routing import STUDIES_QUEUE, SUGGEST_TASK


def send(request_id: str, *, time_limit_s: float) -> bool:
    """Publish the request; False when the broker refused it (the caller answers 503)."""
    return publish(SUGGEST_TASK, request_id, STUDIES_QUEUE, time_limit_s=time_limit_s + 60)
