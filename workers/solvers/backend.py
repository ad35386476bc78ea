"""Array-module dispatch: one code path for numpy and cupy (cupy imported lazily)."""

from __future__ import annotations

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


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # noqa: BLE001 - any import or driver failure means "no GPU"
        return False
