"""Send a committed suggestion request to the CPU workers."""

from __future__ import annotations

from workers.celery_app import publish
from workers.routing import CPU_QUEUE, SUGGEST_TASK


def send(request_id: str, *, time_limit_s: float) -> bool:
    """Publish the request; False when the broker refused it (the caller answers 503)."""
    return publish(SUGGEST_TASK, request_id, CPU_QUEUE, time_limit_s=time_limit_s + 60)
