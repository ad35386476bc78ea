"""Send a committed suggestion request to the CPU workers."""

from __future__ import annotations

import logging

from workers.celery_app import celery_app
from workers.routing import CPU_QUEUE, SUGGEST_TASK

log = logging.getLogger(__name__)

_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.5}


def send(request_id: str, *, time_limit_s: float) -> bool:
    """Publish the request; on a broker failure log it and return False (the caller answers 503)."""
    try:
        celery_app.send_task(
            SUGGEST_TASK,
            args=[request_id],
            queue=CPU_QUEUE,
            routing_key=CPU_QUEUE,
            time_limit=time_limit_s + 60,
            retry=True,
            retry_policy=_RETRY_POLICY,
        )
    except Exception:  # noqa: BLE001 - kombu raises many transport-specific types
        log.warning("could not publish suggestion request %s", request_id, exc_info=True)
        return False
    return True
