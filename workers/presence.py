"""Each worker process announces itself (queue, GPU or not) so that ``device: auto`` can route."""

from __future__ import annotations

import logging
import threading

from app.db import unit_of_work
from app.fleet import repository as fleet
from app.settings import Settings
from app.timeutil import utcnow

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, settings: Settings, *, name: str, queue: str, gpu: bool) -> None:
        self._settings = settings
        self._name, self._queue, self._gpu = name, queue, gpu
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            with unit_of_work(self._settings.resolved_database_url) as session:
                fleet.remove(session, self._name)
        except Exception:  # noqa: BLE001 - best effort at shutdown; the row expires anyway
            log.debug("could not remove presence row", exc_info=True)

    def _loop(self) -> None:
        interval = self._settings.worker_presence_ttl_s / 3
        while True:
            try:
                with unit_of_work(self._settings.resolved_database_url) as session:
                    fleet.touch(
                        session, name=self._name, queue=self._queue, gpu=self._gpu, now=utcnow()
                    )
            except Exception:  # noqa: BLE001 - retried at the next tick
                log.warning("presence update failed", exc_info=True)
            if self._stop.wait(interval):
                return
