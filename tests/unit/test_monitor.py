"""The monitor: trace selection, rate cap, stop flag and time limit."""

from __future__ import annotations

import threading
import time

from workers.solvers.monitor import Monitor
from workers.solvers.result import SolverStatus


def test_trace_every_and_first_iteration() -> None:
    m = Monitor(trace_every=4)
    assert [k for k in range(1, 13) if m.wants_trace(k)] == [1, 4, 8, 12]


def test_rate_cap_keeps_first_iteration_and_spaces_the_rest() -> None:
    m = Monitor(trace_every=1, min_interval_s=0.05)
    m.record(1, 1.0)
    assert m.wants_trace(1)  # the first iteration is always wanted
    assert not m.wants_trace(2)
    time.sleep(0.06)
    assert m.wants_trace(3)


def test_record_sink_and_points() -> None:
    got = []
    m = Monitor(sink=got.append)
    m.record(3, 2.5, gap=0.1)
    assert got[0].as_dict()["gap"] == 0.1 and got[0].iteration == 3
    plain = Monitor()
    plain.record(1, 1.0)
    assert len(plain.points) == 1


def test_stop_flag_then_time_limit() -> None:
    flag = threading.Event()
    m = Monitor(stop_flag=flag, time_limit_s=0.05)
    assert m.check() is None
    time.sleep(0.06)
    assert m.check() is SolverStatus.TIME_LIMIT
    flag.set()
    assert m.check() is SolverStatus.CANCELLED
