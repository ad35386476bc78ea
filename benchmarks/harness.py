"""What every benchmark script shares: thread pinning, timing, capped runs in a forked child,
the header that says where and on what code a table was measured, and number formatting.

Standard library only: a script imports this before numpy, so that :func:`pin_threads` sets the
thread counts before any BLAS, OpenMP or numba runtime reads them.
"""

from __future__ import annotations

import gc
import hashlib
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def pin_threads(argv: Sequence[str], default: str = "1") -> str:
    """Set every thread-count variable to the value of ``--threads`` in ``argv`` (or
    ``default``) and return it. Must run before numpy is imported to take effect."""
    threads = default
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            threads = argv[i + 1]
        elif arg.startswith("--threads="):
            threads = arg.split("=", 1)[1]
    for var in THREAD_VARS:
        os.environ[var] = threads
    return threads


def log(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the Markdown tables."""
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time, after a garbage collection so that none lands inside."""
    gc.collect()
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def _child(fn: Callable[[], Any], conn: Any) -> None:
    try:
        conn.send(("ok", fn()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_forked(fn: Callable[[], T], timeout: float) -> T | None:
    """``fn()`` in a forked child (same data, copy-on-write), killed after ``timeout`` seconds.

    For reference solvers that no iteration cap bounds in time. ``fn`` should measure its own
    time around the solver call, so that the fork and the pipe are not counted. Returns ``None``
    when the child was killed; raises ``RuntimeError`` with the child's exception otherwise.
    """
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, send))
    proc.start()
    send.close()
    if not recv.poll(timeout):
        proc.kill()
        proc.join()
        return None
    try:
        kind, payload = recv.recv()
    except EOFError:
        kind, payload = "error", "child died without a result"
    proc.join()
    if kind != "ok":
        raise RuntimeError(payload)
    return payload  # type: ignore[no-any-return]


def machine() -> str:
    """Cores, CPU model, memory, OS and Python version of this machine."""
    mem = "? GiB RAM"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem}, {platform.system()}, Python {py}"


def code_state(package: str) -> str:
    """The git HEAD and a hash of ``workers/solvers/<package>/*.py`` as they are on disk, so a
    table says which solver code it measured even when the tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        head = "?"
    h = hashlib.sha256()
    for p in sorted((ROOT / "workers" / "solvers" / package).glob("*.py")):
        h.update(p.read_bytes())
    return f"git HEAD {head}, workers/solvers/{package}/*.py sha256 {h.hexdigest()[:12]}"


def fmt_time(x: float) -> str:
    """Seconds with three or four significant digits; ``-`` when there is no time."""
    if not math.isfinite(x):
        return "-"
    return f"{x:.4f}" if x < 0.1 else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def fmt_e(x: float, missing: str = "-") -> str:
    return missing if not math.isfinite(x) else f"{x:.1e}"


def ratio(x: float, y: float) -> float:
    """``x / y``, NaN unless both are finite and ``y > 0``."""
    return x / y if (math.isfinite(x) and math.isfinite(y) and y > 0) else math.nan


def fmt_ratio(r: float, bound: str = "") -> str:
    """A ratio with ``bound`` (e.g. ``"< "``) in front when it is only a bound."""
    if not math.isfinite(r):
        return "-"
    return bound + (f"{r:.3f}" if r < 10 else f"{r:.1f}")
