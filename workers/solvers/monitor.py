"""How a solver reports progress to its caller and learns that it must stop.

A solver calls :meth:`Monitor.check` once per iteration (cheap: a clock read and a flag test) and
:meth:`Monitor.record` on the iterations :meth:`Monitor.wants_trace` selects. The caller decides
what recording means (the worker buffers points for the database; tests keep them in a list) and
what stopping means (a time limit, a cancellation flag set by another thread).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from workers.solvers.result import SolverStatus


class StopFlag(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class TracePoint:
    """One point of a convergence trace."""

    iteration: int
    elapsed_s: float
    objective: float
    measures: dict[str, float | str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "iteration": self.iteration,
            "elapsed_s": self.elapsed_s,
            "objective": self.objective,
            **self.measures,
        }


TraceSink = Callable[[TracePoint], None]


class Monitor:
    """Progress reporting and stopping for one solve.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget from construction; ``None`` for none.
    trace_every
        Record every ``trace_every``-th iteration (the first and the last are always recorded).
    sink
        Receives the recorded points; ``None`` keeps them in :attr:`points`.
    stop_flag
        Set by another party (e.g. a cancellation poller) to ask the solver to stop.
    min_interval_s
        Record at most one point per this many seconds (besides the first and the last): a fast
        solver's trace is for reading convergence, and thousands of points a second would cost
        the process more to store than the solve itself.
    """

    def __init__(
        self,
        *,
        time_limit_s: float | None = None,
        trace_every: int = 1,
        sink: TraceSink | None = None,
        stop_flag: StopFlag | None = None,
        min_interval_s: float = 0.0,
    ) -> None:
        if trace_every < 1:
            raise ValueError("trace_every must be >= 1")
        self.started = time.perf_counter()
        self.deadline = None if time_limit_s is None else self.started + time_limit_s
        self.trace_every = trace_every
        self.min_interval_s = min_interval_s
        self._last_record = -float("inf")
        self.points: list[TracePoint] = []
        self._sink = sink if sink is not None else self.points.append
        self._stop_flag = stop_flag

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def check(self) -> SolverStatus | None:
        """Return ``CANCELLED`` or ``TIME_LIMIT`` when the solver must stop, else ``None``."""
        if self._stop_flag is not None and self._stop_flag.is_set():
            return SolverStatus.CANCELLED
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return SolverStatus.TIME_LIMIT
        return None

    def wants_trace(self, iteration: int) -> bool:
        if iteration <= 1:
            return True
        if iteration % self.trace_every:
            return False
        return time.perf_counter() - self._last_record >= self.min_interval_s

    def record(self, iteration: int, objective: float, **measures: float | str) -> None:
        now = time.perf_counter()
        self._last_record = now
        self._sink(TracePoint(iteration, now - self.started, float(objective), measures))


def stop_reason(monitor: Monitor | None, iteration: int, max_iter: int) -> SolverStatus | None:
    """Why a solver loop must stop before iteration ``iteration + 1``, or ``None`` to go on.

    The caller's request (cancellation, time limit) comes first, then the iteration budget.
    """
    if monitor is not None:
        stop = monitor.check()
        if stop is not None:
            return stop
    return SolverStatus.MAX_ITER if iteration >= max_iter else None
