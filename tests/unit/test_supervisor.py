"""optaas serve's worker supervisor: restarts a dead worker, gives up on a crash loop."""

from __future__ import annotations

import os
import sys
import threading

from app.cli import _WorkerSupervisor


def test_crash_loop_gives_up_and_signals_serve() -> None:
    gave_up = threading.Event()
    sup = _WorkerSupervisor(
        [sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ), gave_up.set
    )
    sup.start()
    try:
        assert gave_up.wait(30), "a worker that dies at once must not be restarted forever"
        assert sup.gave_up
    finally:
        sup.stop()


def test_a_worker_that_dies_once_is_restarted() -> None:
    sup = _WorkerSupervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), lambda: None
    )
    sup.start()
    try:
        first = sup._proc
        assert first is not None
        first.kill()
        first.wait()
        threading.Event().wait(2.5)
        assert sup._proc is not first and sup._proc.poll() is None
        assert not sup.gave_up
    finally:
        sup.stop()
