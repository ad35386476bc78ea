"""Recover jobs the broker or a worker lost; the database is the source of truth.

Two kinds of loss, two repairs:

* a ``running`` job whose worker stopped heartbeating (killed, host lost) goes back to ``queued``,
  or is failed with ``WorkerLost`` after ``max_attempts`` (a job that kills every worker must not
  loop forever);
* a ``queued`` job whose message never reached the broker, or was lost with it (Redis restarted,
  API crashed between commit and send), is sent again. A job merely waiting in a long queue is
  not: queues are consumed in order, so a message is presumed lost only once consumers have
  started jobs sent after it, or the queue has started nothing for ``requeue_after_s`` (then
  with exponential back-off, since a stalled queue may just be busy). A ``device: auto`` job
  waiting on the GPU queue after the last GPU worker went away is moved to the CPU queue.
  Duplicates are harmless: a task claims its job with a conditional update, and the loser
  does nothing.

Every API process runs this loop; all of its writes are conditional, so several copies agree.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from app.db import unit_of_work
from app.fleet import repository as fleet
from app.jobs import dispatch, repository
from app.settings import Settings
from app.timeutil import utcnow
from workers.routing import CPU_QUEUE, GPU_QUEUE

log = logging.getLogger(__name__)

MAX_BACKOFF_FACTOR = 16
#: Messages sent this close together may be consumed out of order (several API processes,
#: several consumers); only a job passed over by more than this is presumed lost.
FIFO_SLACK_S = 2.0


def recover_stale(settings: Settings) -> dict[str, int]:
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.lease_timeout_s)
    counts = {"released": 0, "failed": 0, "cancelled": 0}
    with unit_of_work(settings.resolved_database_url) as session:
        for job in repository.stale_running(session, stale_before):
            if job.cancel_requested:
                if repository.abandon(session, job.id, status="cancelled", now=now, error=None):
                    counts["cancelled"] += 1
            elif job.attempts >= settings.max_attempts:
                error = {
                    "error": "WorkerLost",
                    "detail": f"the worker running this job died {job.attempts} times; "
                    "the job is not retried again",
                }
                if repository.abandon(session, job.id, status="failed", now=now, error=error):
                    counts["failed"] += 1
            elif repository.release(
                session, job.id, owner=job.claimed_by, stale_before=stale_before
            ):
                counts["released"] += 1
        fleet.prune(session, now - timedelta(days=1))
    return counts


def resend_lost(settings: Settings) -> int:
    now = utcnow()
    base = settings.requeue_after_s
    with unit_of_work(settings.resolved_database_url) as session:
        candidates = repository.unsent_queued(session, now - timedelta(seconds=base))
        gpu_alive = fleet.gpu_worker_alive(
            session, now - timedelta(seconds=settings.worker_presence_ttl_s)
        )
        since = now - timedelta(seconds=base * MAX_BACKOFF_FACTOR)
        frontiers = {
            queue: repository.queue_frontier(session, queue, since)
            for queue in {j.queue for j in candidates} | {CPU_QUEUE}
        }
        due = []
        for job in candidates:
            if job.queue == GPU_QUEUE and job.device == "auto" and not gpu_alive:
                # `auto` chose the GPU when a GPU worker was alive; it is gone, the CPU is not.
                if repository.reroute(session, job.id, from_queue=GPU_QUEUE, to_queue=CPU_QUEUE):
                    job.queue, job.enqueued_at = CPU_QUEUE, None
            if _presumed_lost(job.enqueued_at, job.send_count, frontiers[job.queue], now, base):
                due.append((job.id, job.queue, float(job.options["time_limit_s"])))
    sent_count = 0
    for job_id, queue, time_limit_s in due:
        if not dispatch.send(job_id, queue, time_limit_s):
            break  # the broker is down: try again next pass
        with unit_of_work(settings.resolved_database_url) as session:
            repository.mark_sent(session, job_id, utcnow())
        sent_count += 1
    return sent_count


def _presumed_lost(
    sent: datetime | None,
    send_count: int,
    frontier: tuple[datetime | None, datetime | None],
    now: datetime,
    base: float,
) -> bool:
    if sent is None:
        return True  # never reached the broker
    factor = min(2 ** max(send_count - 1, 0), MAX_BACKOFF_FACTOR)
    if sent >= now - timedelta(seconds=base * factor):
        return False
    reached, last_start = frontier
    passed_over = reached is not None and reached > sent + timedelta(seconds=FIFO_SLACK_S)
    stalled = last_start is None or last_start < now - timedelta(seconds=base)
    return passed_over or stalled


def reconcile_once(settings: Settings) -> dict[str, int]:
    counts = recover_stale(settings)
    counts["resent"] = resend_lost(settings)
    if any(counts.values()):
        log.info("reconciler: %s", counts)
    return counts


async def run_reconciler(settings: Settings) -> None:
    while True:
        try:
            await run_in_threadpool(reconcile_once, settings)
        except Exception:  # noqa: BLE001 - a database outage must not end the loop
            log.warning("reconciler pass failed", exc_info=True)
        await asyncio.sleep(settings.reconcile_interval_s)
