"""Server-sent events of one job: progress while it runs, then its final state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from starlette.concurrency import run_in_threadpool

from app.db import unit_of_work
from app.jobs import repository
from app.jobs.service import to_resource
from app.keys.service import Caller
from app.settings import Settings
from schemas.jobs import JobResource

# Poll fast while things change (a short job's `done` comes within tens of milliseconds), and
# back off geometrically while nothing does, so that an idle stream costs ~2 reads a second.
POLL_MIN_S = 0.02
POLL_MAX_S = 0.5
POLL_GROWTH = 1.5
KEEPALIVE_S = 15.0


def _load(settings: Settings, caller: Caller, job_id: str) -> JobResource | None:
    with unit_of_work(settings.resolved_database_url) as session:
        job = repository.get(session, job_id, tenant_id=caller.tenant_id)
        return None if job is None else to_resource(job)


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def job_events(settings: Settings, caller: Caller, job_id: str) -> AsyncIterator[bytes]:
    """Yield ``status`` on each state change, ``progress`` on each new trace point, ``done`` last.

    The database is polled: it is the one place every worker writes to, on SQLite and PostgreSQL
    alike, and each poll of an open stream costs one primary-key read.
    """
    last_status, last_progress, last_sent = None, None, time.monotonic()
    interval = POLL_MIN_S
    while True:
        job = await run_in_threadpool(_load, settings, caller, job_id)
        if job is None:
            yield _event("error", {"error": "NotFound", "detail": f"no job {job_id!r}"})
            return
        interval = min(interval * POLL_GROWTH, POLL_MAX_S)
        if job.status != last_status:
            last_status = job.status
            yield _event("status", {"id": job.id, "status": job.status})
            last_sent, interval = time.monotonic(), POLL_MIN_S
        if job.progress is not None and job.progress != last_progress:
            last_progress = job.progress
            yield _event("progress", job.progress)
            last_sent, interval = time.monotonic(), POLL_MIN_S
        if job.status in repository.FINISHED:
            yield _event("done", job.model_dump(mode="json"))
            return
        if time.monotonic() - last_sent > KEEPALIVE_S:
            yield b": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(interval)
