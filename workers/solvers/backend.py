"""Array-module dispatch: one code path for numpy and cupy (cupy imported lazily)."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np


def array_namespace(*arrays: Any) -> ModuleType:
    """The array module of ``arrays``: cupy if any of them lives on a GPU, else numpy."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy  # type: ignore[no-any-return, unused-ignore]  # cupy may be absent
    return np


def to_numpy(a: Any) -> np.ndarray:
    """Copy ``a`` to host memory when it lives on a GPU."""
    if type(a).__module__.startswith("cupy"):
        return a.get()  # type: ignore[no-any-return, unused-ignore]  # cupy may be absent
    return np.asarray(a)


def to_host(xp: Any, *values: Any) -> list[float]:
    """Several 0-d device scalars (or Python numbers) as Python floats, in one transfer."""
    if xp is np:  # already on the host: stacking would only add overhead
        return [float(v) for v in values]
    return [float(v) for v in xp.stack([xp.asarray(v, dtype=xp.float64) for v in values]).tolist()]


def norm2_estimate(xp: Any, A: Any, dtype: Any, iterations: int) -> tuple[float, int]:
    """Rayleigh-quotient estimate of ``||A||_2^2`` (a lower bound) and the products it spent.

    ``iterations`` power iterations on ``A^T A``. The start vector is deterministic (``cos(0),
    cos(1), ...``) so runs are reproducible; it is almost surely not orthogonal to the top
    singular vector.
    """
    n = A.shape[1]
    v = xp.cos(xp.arange(n, dtype=dtype))
    v = v / xp.sqrt(xp.dot(v, v))
    estimate = 0.0
    matvecs = 0
    for _ in range(iterations):
        Av = A @ v
        u = A.T @ Av
        matvecs += 2
        estimate, unorm = to_host(xp, xp.dot(Av, Av), xp.sqrt(xp.dot(u, u)))
        if not (math.isfinite(unorm) and unorm > 0.0):
            break
        v = u / unorm
    return estimate, matvecs


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # noqa: BLE001 - any import or driver failure means "no GPU"
        return False
