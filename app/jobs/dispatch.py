"""Send a committed job to its queue. Never called before the job row is committed."""

from __future__ import annotations

from workers.celery_app import publish
from workers.routing import RUN_JOB_TASK


def send(job_id: str, queue: str, time_limit_s: float) -> bool:
    """Publish the job's message; False when the broker refused it.

    The reconciler re-sends what could not be sent.
    """
    # The solver stops itself at the limit and returns its best iterate; this is a backstop.
    return publish(RUN_JOB_TASK, job_id, queue, time_limit_s=time_limit_s + 120)
