"""A running job's link to the database: batched trace writes, lease heartbeat, cancel polling.

The solver never touches the database. Its monitor appends trace points to an in-memory buffer;
a background thread of the worker process flushes the buffer every ``heartbeat_interval_s`` in one
transaction that also refreshes the job's lease and reads its cancellation flag. A fast solver thus
costs the database a few writes per second whatever its iteration rate, and a cancellation or a
lost lease reaches the solver through a :class:`threading.Event` its monitor checks.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from app.db import unit_of_work
from app.jobs import repository
from app.settings import Settings
from app.timeutil import utcnow
from workers.solvers.monitor import TracePoint

log = logging.getLogger(__name__)


def finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def point_dict(point: TracePoint) -> dict[str, Any]:
    return {k: finite_or_none(v) for k, v in point.as_dict().items()}


class JobRecorder:
    def __init__(self, settings: Settings, job_id: str, *, worker: str, attempt: int) -> None:
        self._settings = settings
        self._job_id = job_id
        self._worker = worker
        self._attempt = attempt
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"recorder-{job_id}", daemon=True)
        #: Set when the job must stop: cancellation requested, or the lease went to another worker.
        self.stop_flag = threading.Event()
        self.lease_lost = False
        self.last_point: dict[str, Any] | None = None

    def add(self, point: TracePoint) -> None:
        """Monitor sink: called from the solver thread, must be cheap."""
        row = point_dict(point)
        with self._lock:
            self._buffer.append(row)
            self.last_point = row

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write what is left (before the job's outcome is recorded)."""
        self._done.set()
        self._thread.join()
        self._flush()

    def _loop(self) -> None:
        while not self._done.wait(self._settings.heartbeat_interval_s):
            try:
                self._flush()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the job
                log.warning(
                    "trace flush for job %s failed; will retry", self._job_id, exc_info=True
                )

    def _flush(self) -> None:
        with self._lock:
            points, self._buffer = self._buffer, []
            progress = self.last_point
        try:
            with unit_of_work(self._settings.resolved_database_url) as session:
                repository.insert_trace(session, self._job_id, points)
                owned, cancel = repository.heartbeat(
                    session,
                    self._job_id,
                    worker=self._worker,
                    attempt=self._attempt,
                    now=utcnow(),
                    progress=progress,
                )
                if not owned:
                    session.rollback()  # a zombie's trace must not mix with the new owner's
        except Exception:
            with self._lock:
                self._buffer[:0] = points  # keep them for the next flush
            raise
        if not owned:
            self.lease_lost = True
            self.stop_flag.set()
        elif cancel:
            self.stop_flag.set()
