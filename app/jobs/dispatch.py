"""Send a committed job to its queue. Never called before the job row is committed."""

from __future__ import annotations

import logging

from workers.celery_app import celery_app
from workers.routing import RUN_JOB_TASK

log = logging.getLogger(__name__)

_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.5}


def send(job_id: str, queue: str, time_limit_s: float) -> bool:
    """Publish the job's message; on a broker failure log it and return False.

    The reconciler re-sends what could not be sent.
    """
    try:
        celery_app.send_task(
            RUN_JOB_TASK,
            args=[job_id],
            queue=queue,
            routing_key=queue,
            # A backstop only: the solver stops itself at the limit and returns its best iterate.
            time_limit=time_limit_s + 120,
            retry=True,
            retry_policy=_RETRY_POLICY,
        )
    except Exception:  # noqa: BLE001 - kombu raises many transport-specific types
        log.warning(
            "could not publish job %s to queue %s; will retry", job_id, queue, exc_info=True
        )
        return False
    return True
