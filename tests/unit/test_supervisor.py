"""optaas serve's worker supervisor: restarts a dead worker, gives up on a crash loop."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

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


def test_request_stop_signals_without_waiting(tmp_path: Path) -> None:
    """serve asks every worker to stop before it waits for any: each one's warm shutdown takes
    seconds. Here each child takes 60 s to exit after SIGTERM, and both have been signalled
    before either has exited."""
    script = (
        "import signal, sys, time\n"
        "def on_term(*_):\n"
        "    open(sys.argv[1], 'w').close()\n"
        "    time.sleep(60)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "open(sys.argv[1] + '.up', 'w').close()\n"
        "time.sleep(120)\n"
    )
    marks = [tmp_path / "a", tmp_path / "b"]
    sups = [
        _WorkerSupervisor([sys.executable, "-c", script, str(m)], dict(os.environ), lambda: None)
        for m in marks
    ]
    for sup in sups:
        sup.start()
    try:
        deadline = time.monotonic() + 30
        while not all(Path(f"{m}.up").exists() for m in marks):
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.05)
        for sup in sups:
            sup.request_stop()
        while not all(m.exists() for m in marks):
            assert time.monotonic() < deadline, "request_stop did not signal every child"
            time.sleep(0.05)
        assert all(sup._proc is not None and sup._proc.poll() is None for sup in sups)
    finally:
        for sup in sups:
            if sup._proc is not None:
                sup._proc.kill()
            sup.stop()
