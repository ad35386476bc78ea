"""Celery tasks and worker-process hooks."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task
from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.exc import OperationalError

from app.db import engine_for, sessionmaker_for
from app.settings import get_settings
from workers.celery_app import celery_app
from workers.presence import Presence
from workers.routing import CPU_QUEUE, GPU_QUEUE, RUN_JOB_TASK, SUGGEST_TASK
from workers.runner import run_job as execute
from workers.runner import worker_identity
from workers.solvers.backend import gpu_available
from workers.studies import answer_suggestion

log = logging.getLogger(__name__)

_presence: Presence | None = None


@celery_app.task(
    name=RUN_JOB_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # Only a database outage is worth a retry; a solver failure is a result.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=5,
)
def run_job(self: Task, job_id: str) -> str:
    queue = (self.request.delivery_info or {}).get("routing_key")
    return execute(job_id, settings=get_settings(), queue=queue)


@celery_app.task(
    name=SUGGEST_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=5,
    max_retries=5,
)
def suggest(request_id: str) -> str:
    return answer_suggestion(request_id, settings=get_settings())


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    # Connections must not cross a fork; each pool process builds its own engine.
    engine_for.cache_clear()
    sessionmaker_for.cache_clear()
    settings = get_settings()
    queue = os.environ.get("OPTAAS_WORKER_QUEUE", CPU_QUEUE)
    gpu = queue == GPU_QUEUE and gpu_available()
    global _presence
    _presence = Presence(settings, name=worker_identity(), queue=queue, gpu=gpu)
    _presence.start()


@worker_process_shutdown.connect
def _on_process_shutdown(**_: Any) -> None:
    if _presence is not None:
        _presence.stop()
