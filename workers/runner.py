"""Run one job: claim it, solve it with a monitor wired to the database, record the outcome.

Idempotent by construction: the job is claimed with a conditional update, so a duplicate message,
a redelivery after the job finished, or a job that no longer exists is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from types import ModuleType
from typing import Any

import numpy as np
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from app.db import unit_of_work
from app.jobs import repository
from app.settings import Settings
from app.timeutil import utcnow
from schemas.arrays import encode_array
from schemas.problems import KINDS
from workers.kinds import solver_for
from workers.recorder import JobRecorder, finite_or_none
from workers.routing import GPU_QUEUE
from workers.solvers.backend import to_numpy
from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverResult, SolverStatus

log = logging.getLogger(__name__)

JOB_STATUS = {
    SolverStatus.CANCELLED: "cancelled",
    SolverStatus.NUMERICAL_ERROR: "failed",
}


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_local_process(owner: str | None) -> bool:
    """True when ``owner`` names a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claim(
    settings: Settings, job_id: str, me: str
) -> tuple[int, str, bytes, dict[str, Any]] | None:
    now = utcnow()
    with unit_of_work(settings.resolved_database_url) as session:
        job = repository.get(session, job_id)
        if job is None or job.status in repository.FINISHED:
            return None
        stale_before = now - timedelta(seconds=settings.lease_timeout_s)
        claimed = repository.claim(session, job_id, worker=me, now=now, stale_before=stale_before)
        if not claimed and job.status == "running" and _dead_local_process(job.claimed_by):
            # Our own host's earlier process died mid-job (its message came back at once).
            claimed = repository.take_over(
                session, job_id, dead_owner=job.claimed_by or "", worker=me, now=now
            )
        if not claimed:
            return None
        job = repository.get_with_problem(session, job_id)
        assert job is not None
        if job.attempts > settings.max_attempts:
            repository.abandon(
                session,
                job_id,
                status="failed",
                now=now,
                error={
                    "error": "WorkerLost",
                    "detail": f"the job was started {job.attempts - 1} times and never finished",
                },
            )
            return None
        repository.delete_trace(session, job_id)
        return job.attempts, job.kind, job.problem, dict(job.options)


def run_job(job_id: str, *, settings: Settings, queue: str | None) -> str:
    """Execute job ``job_id`` if it is ours to run; return a one-word outcome for the log."""
    me = worker_identity()
    claim = _claim(settings, job_id, me)
    if claim is None:
        return "skipped"
    attempt, kind, problem, options = claim

    try:
        spec = KINDS[kind].model_validate_json(problem)
    except (KeyError, ValidationError) as exc:
        with unit_of_work(settings.resolved_database_url) as session:
            repository.abandon(
                session,
                job_id,
                status="failed",
                now=utcnow(),
                error={"error": "InvalidStoredProblem", "detail": str(exc)[:2000]},
            )
        return "failed"

    recorder = JobRecorder(settings, job_id, worker=me, attempt=attempt)
    monitor = Monitor(
        time_limit_s=float(options["time_limit_s"]),
        trace_every=int(options["trace_every"]),
        sink=recorder.add,
        stop_flag=recorder.stop_flag,
        min_interval_s=settings.min_trace_interval_s,
    )
    recorder.start()
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=settings.blas_threads):
            outcome = solver_for(spec)(spec, options, monitor, _array_module(queue))
        status = JOB_STATUS.get(outcome.status, "succeeded")
        result = result_record(outcome, options.get("array_format", "list"))
        if outcome.status is SolverStatus.NUMERICAL_ERROR:
            error = {"error": "NumericalError", "detail": outcome.message}
    except MemoryError:
        status, error = (
            "failed",
            {"error": "MemoryError", "detail": "the problem did not fit in memory"},
        )
    except Exception as exc:  # noqa: BLE001 - a solver bug fails this job, not the worker
        log.exception("job %s: solver raised", job_id)
        status, error = "failed", {"error": type(exc).__name__, "detail": str(exc)[:2000]}
    finally:
        recorder.close()

    if recorder.lease_lost:
        log.warning("job %s: lease lost to another worker; discarding this attempt", job_id)
        return "lease_lost"
    with unit_of_work(settings.resolved_database_url) as session:
        recorded = repository.finish(
            session,
            job_id,
            worker=me,
            attempt=attempt,
            status=status,
            now=utcnow(),
            result=result,
            error=error,
            progress=recorder.last_point,
        )
    log.info("job %s: %s in %.3f s", job_id, status, time.perf_counter() - started)
    return status if recorded else "lease_lost"


def _array_module(queue: str | None) -> ModuleType:
    if queue == GPU_QUEUE:
        import cupy

        return cupy  # type: ignore[no-any-return, unused-ignore]  # cupy may be absent
    return np


def result_record(outcome: SolverResult, array_format: str) -> dict[str, Any]:
    """The solver's record as stored JSON: arrays encoded, non-finite numbers as ``null``."""
    return {
        "status": outcome.status.value,
        "objective": finite_or_none(float(outcome.objective)),
        "iterations": int(outcome.iterations),
        "solve_time_s": float(outcome.solve_time_s),
        "certificate": {k: finite_or_none(float(v)) for k, v in outcome.certificate.items()},
        "solution": _to_json(outcome.solution, array_format),
        "message": outcome.message,
    }


def _to_json(value: Any, array_format: str) -> Any:
    """Arrays encoded (at any depth), numpy scalars as Python numbers, non-finite as null."""
    if isinstance(value, dict):
        return {k: _to_json(v, array_format) for k, v in value.items()}
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return encode_array(to_numpy(value), array_format)  # type: ignore[arg-type]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) or hasattr(value, "item"):
        return finite_or_none(float(value))
    return value
