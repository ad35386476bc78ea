r"""Exact proximal operator of the 1-D total variation (the fused-lasso signal approximator).

Computes

.. math::

    \operatorname{prox}_{\lambda \mathrm{TV}}(y) = \arg\min_x \; \tfrac12 \lVert x - y \rVert_2^2
        + \lambda \sum_{i=1}^{n-1} \lvert x_{i+1} - x_i \rvert

exactly (up to rounding) by Condat's direct algorithm: a single left-to-right scan that grows the
current constant segment while a value for it stays compatible with the dual constraint
:math:`\lvert u_i \rvert \le \lambda`, and closes it with a jump down (at the lowest admissible
value) or up (at the highest) when the constraint is violated, going back to the last point where
the dual touched the bound. Worst case :math:`O(n^2)`, linear in practice; a numba kernel on the
host (cupy inputs are copied to the host and the result copied back).

References
----------
.. [1] L. Condat, "A direct algorithm for 1-D total variation denoising", IEEE Signal Processing
   Letters 20(11):1054-1057, 2013.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.jit import jit as _jit

__all__ = ["tv1d_prox", "tv1d_value"]


@_jit
def _tv1d_kernel(
    y: np.ndarray, lam: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba; covered through tv1d_prox
    """Condat's scan; ``lam > 0``, ``y`` non-empty float64, result written into ``out``.

    State of the open segment ``[first, k]``: its value must lie in ``[low, high]``; ``dual_low``
    and ``dual_high`` are the dual variables at ``k`` obtained with the value ``low`` (resp.
    ``high``) on the segment, and ``last_low`` / ``last_high`` the last indices where they hit
    ``+lam`` / ``-lam`` (where a jump down / up would start).
    """
    n = y.shape[0]
    k = 0
    first = 0
    last_low = 0
    last_high = 0
    low = y[0] - lam
    high = y[0] + lam
    dual_low = lam
    dual_high = -lam
    while True:
        while k == n - 1:
            # Right end: the dual must come back to 0 there.
            if dual_low < 0.0:
                # even the lowest value leaves too much mass: close [first, last_low] at `low`
                for i in range(first, last_low + 1):
                    out[i] = low
                first = last_low + 1
                k = first
                last_low = first
                low = y[first]
                dual_low = lam
                dual_high = low + dual_low - high
            elif dual_high > 0.0:
                # even the highest value leaves too little: close [first, last_high] at `high`
                for i in range(first, last_high + 1):
                    out[i] = high
                first = last_high + 1
                k = first
                last_high = first
                high = y[first]
                dual_high = -lam
                dual_low = high + dual_high - low
            else:
                value = low + dual_low / (k - first + 1)
                for i in range(first, k + 1):
                    out[i] = value
                return
        dual_low += y[k + 1] - low
        if dual_low < -lam:
            # jump down: the segment ends at last_low with the value `low`
            for i in range(first, last_low + 1):
                out[i] = low
            first = last_low + 1
            k = first
            last_low = first
            last_high = first
            low = y[first]
            high = low + 2.0 * lam
            dual_low = lam
            dual_high = -lam
            continue
        dual_high += y[k + 1] - high
        if dual_high > lam:
            # jump up: the segment ends at last_high with the value `high`
            for i in range(first, last_high + 1):
                out[i] = high
            first = last_high + 1
            k = first
            last_low = first
            last_high = first
            high = y[first]
            low = high - 2.0 * lam
            dual_low = lam
            dual_high = -lam
            continue
        # no jump: extend the segment to k + 1 and tighten [low, high] where the dual saturates
        k += 1
        if dual_low >= lam:
            last_low = k
            low += (dual_low - lam) / (k - first + 1)
            dual_low = lam
        if dual_high <= -lam:
            last_high = k
            high += (dual_high + lam) / (k - first + 1)
            dual_high = -lam


def tv1d_prox(y: Any, lam: float) -> Any:
    r"""Exact :math:`\operatorname{prox}_{\lambda \mathrm{TV}}(y)` for a 1-D array ``y``.

    Parameters
    ----------
    y : array, shape (n,)
        Signal (numpy or cupy). Never modified.
    lam : float
        Weight ``>= 0`` of the total variation (``0`` returns a copy of ``y``).

    Returns
    -------
    array, shape (n,)
        The piecewise-constant minimiser, in ``y``'s array module and floating dtype.
    """
    xp = array_namespace(y)
    y = xp.asarray(y)
    if y.dtype.kind != "f":
        y = y.astype(xp.float64)
    if y.ndim != 1:
        raise ValueError(f"TV1D acts on 1-D arrays, got shape {y.shape}")
    if not lam >= 0.0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    if lam == 0.0 or y.shape[0] <= 1:
        return y.copy()
    host = np.ascontiguousarray(to_numpy(y), dtype=np.float64)
    if not np.all(np.isfinite(host)):
        return xp.full_like(y, xp.nan)  # the scan's comparisons are meaningless on NaN
    # The scan carries values offset by +-lam, so for lam >> |y| it loses ~lam * eps of accuracy;
    # the common case of such a lam, a constant solution (the mean), is detected exactly first:
    # it is optimal iff every partial sum of y - mean stays within lam.
    centred = np.cumsum(host - host.mean())
    if np.abs(centred[:-1]).max() <= lam:
        return xp.full_like(y, host.mean())
    out = np.empty_like(host)
    _tv1d_kernel(host, float(lam), out)
    return xp.asarray(out, dtype=y.dtype)


def tv1d_value(x: Any) -> float:
    r""":math:`\sum_i \lvert x_{i+1} - x_i \rvert` of a 1-D array."""
    xp = array_namespace(x)
    return float(xp.sum(xp.abs(xp.diff(x))))
