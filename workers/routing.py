"""Queues and how a job's ``device`` picks one."""

from __future__ import annotations

from typing import Literal

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
#: Study suggestions: short tasks that a user waits on. A dedicated worker consumes this queue so
#: that asks are not stuck behind long jobs; CPU workers consume it too, as a fallback.
STUDIES_QUEUE = "studies"
QUEUES = (CPU_QUEUE, GPU_QUEUE, STUDIES_QUEUE)


def consumed_queues(queue: str) -> str:
    """The Celery ``--queues`` of a worker started for ``queue``."""
    return f"{CPU_QUEUE},{STUDIES_QUEUE}" if queue == CPU_QUEUE else queue


RUN_JOB_TASK = "optaas.run_job"
SUGGEST_TASK = "optaas.suggest"

Device = Literal["auto", "cpu", "gpu"]


class RoutingError(ValueError):
    """The requested device cannot serve this job."""

    def __init__(self, reason: Literal["kind_cpu_only", "no_gpu_worker"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def choose_queue(device: Device, *, kind_gpu_capable: bool, gpu_worker_alive: bool) -> str:
    """``auto`` takes the GPU only when the kind supports it and a GPU worker is alive."""
    if device == "cpu":
        return CPU_QUEUE
    if device == "gpu":
        if not kind_gpu_capable:
            raise RoutingError("kind_cpu_only", "this problem kind has no GPU solver")
        if not gpu_worker_alive:
            raise RoutingError(
                "no_gpu_worker", "no GPU worker is running; use device 'cpu' or 'auto'"
            )
        return GPU_QUEUE
    return GPU_QUEUE if kind_gpu_capable and gpu_worker_alive else CPU_QUEUE
