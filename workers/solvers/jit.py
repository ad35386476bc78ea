"""The numba decorators of every compiled kernel, so that their options live in one place.

``jit``
    Cached on disk, strict IEEE arithmetic (no ``fastmath``), and the GIL released while a
    kernel runs (a worker's cancellation and progress threads keep going). Division follows
    numpy's error model: a zero divisor gives ``inf`` or ``nan`` as in IEEE arithmetic instead
    of raising, so a loop with a division carries no check that would stop it vectorising
    (the equilibration's ``1 / sqrt(norm)``: 26 -> 6 microseconds a pass on robust PCA m = 60).
``jit_reduce``
    The same, but LLVM may reassociate floating-point sums and contract them into FMAs, so that
    reductions vectorise. Their results then depend on the vector width in the last bits; use it
    only for sums whose order does not matter to the caller.
"""

from __future__ import annotations

import numba

__all__ = ["jit", "jit_reduce"]

jit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
jit_reduce = numba.njit(
    cache=True, fastmath={"reassoc", "contract"}, nogil=True, error_model="numpy"
)
