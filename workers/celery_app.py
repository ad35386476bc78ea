"""The Celery application, configured from Settings.

Reliability settings follow from one rule: the database is the source of truth and the broker only
a doorbell. ``acks_late`` + ``reject_on_worker_lost`` + prefetch 1 make a killed worker's message
come back; the reconciler (app/jobs/reconciler.py) re-sends what a broker lost anyway.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu import Queue
from kombu import pools as kombu_pools

from app.settings import Settings, get_settings
from workers import file_broker  # noqa: F401 - registers the embedded broker's URL scheme
from workers.routing import QUEUES

log = logging.getLogger(__name__)


def celery_config(settings: Settings) -> dict[str, Any]:
    transport_options: dict[str, Any] = {
        # A message unacked this long is redelivered by Redis: it must outlast the longest job.
        "visibility_timeout": int(settings.max_time_limit_s + 600),
        "polling_interval": settings.broker_polling_interval_s,
    }
    if settings.embedded:
        folder = str(settings.broker_folder / "queue")
        transport_options.update(
            data_folder_in=folder,
            data_folder_out=folder,
            # Beside the queue, on one filesystem: consumers claim a message by renaming it here.
            processed_folder=str(settings.broker_folder / "processed"),
            store_processed=False,
            control_folder=str(settings.broker_folder / "control"),
        )
    return {
        "broker_url": settings.resolved_broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2.0,
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": QUEUES[0],
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        # The filesystem transport has no fanout for remote control; Redis does.
        "worker_enable_remote_control": not settings.embedded,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.5}


def publish(task: str, arg: str, queue: str, *, time_limit_s: float) -> bool:
    """Send ``task(arg)`` to ``queue``; on a broker failure log it and return False.

    ``time_limit_s`` is a hard backstop only: solvers and suggestions stop themselves first.
    """
    try:
        celery_app.send_task(
            task,
            args=[arg],
            queue=queue,
            routing_key=queue,
            time_limit=time_limit_s,
            retry=True,
            retry_policy=_RETRY_POLICY,
        )
    except Exception:  # noqa: BLE001 - kombu raises many transport-specific types
        log.warning("could not publish %s(%s) to queue %s", task, arg, queue, exc_info=True)
        return False
    return True


def configure(settings: Settings) -> None:
    """(Re)configure the process's Celery app; the API calls it with the settings it runs on."""
    if settings.embedded:
        for folder in ("queue", "processed", "control"):
            (settings.broker_folder / folder).mkdir(parents=True, exist_ok=True)
    # Pools are keyed by broker URL, and "optaasfs://" names no folder: drop every pooled
    # connection opened with the previous options.
    celery_app.close()
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None
    kombu_pools.reset()
    celery_app.conf.update(celery_config(settings))


celery_app = Celery("optaas")
# Importing configures from the environment but creates nothing; `configure` is called by
# whoever runs the app (API factory, worker command) and prepares the broker folders.
celery_app.conf.update(celery_config(get_settings()))
