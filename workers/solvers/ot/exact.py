r"""Unregularised optimal transport by the network simplex (POT's ``ot.emd``), certified.

Solves the linear program

.. math::

    \min_{P \in U(a, b)} \langle P, C \rangle
    \quad\text{with dual}\quad
    \max_{u, v} \; \langle u, a \rangle + \langle v, b \rangle
    \;\; \text{s.t.} \;\; u_i + v_j \le C_{ij}.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from workers.solvers.backend import array_namespace, to_numpy
from workers.solvers.monitor import Monitor
from workers.solvers.ot.common import (
    infeasible_result,
    mass_mismatch_message,
    masses_match,
    prepare_problem,
)
from workers.solvers.result import SolverResult, SolverStatus

__all__ = ["exact_ot"]

# POT's network-simplex result codes (ot.lp.emd_wrap.check_result).
_INFEASIBLE, _OPTIMAL, _UNBOUNDED, _MAX_ITER = 0, 1, 2, 3
# A plan is reported CONVERGED only if its marginals and the dual constraints hold to this many
# units of round-off of the data (the simplex is exact up to floating-point sums).
_CERT_RTOL = 1e-9


def exact_ot(
    a: Any,
    b: Any,
    C: Any,
    *,
    max_iter: int = 1_000_000,
    monitor: Monitor | None = None,
) -> SolverResult:
    r"""Exact optimal transport by POT's network simplex, certified by marginals and duality gap.

    Parameters
    ----------
    a, b : array, shapes (n,), (m,)
        Non-negative masses with equal totals (relative ``1e-9``; otherwise ``INFEASIBLE``
        without calling the solver). Never modified.
    C : array, shape (n, m)
        Cost matrix. Never modified. Arrays on a GPU are copied to the host (the network simplex
        is CPU code) and the results copied back.
    max_iter : int
        POT's ``numItermax`` (simplex pivots).
    monitor : Monitor, optional
        Checked once before the solve (the C++ simplex cannot be interrupted, so a time limit
        is only honoured at that point) and given one trace point at the end (``objective`` =
        transport cost, ``marginal_error_l1``, ``dual_gap``, ``stage`` = "exact").

    Returns
    -------
    SolverResult
        ``objective = <P, C>``; ``solution = {"f": u, "g": v, "plan": P, "transport_cost"}``
        with POT's (centred) dual potentials; ``certificate = {"marginal_error_l1",
        "dual_gap", "dual_infeasibility", "transport_cost"}`` recomputed here from ``P``, ``u``,
        ``v``: ``dual_gap = <P, C> - <u, a> - <v, b>`` and ``dual_infeasibility =
        max(0, max_ij(u_i + v_j - C_ij))``. ``iterations`` is 0: POT does not report its pivot
        count. ``info`` holds POT's ``result_code`` and ``warning``.

    Notes
    -----
    The status follows POT's result code: optimal -> ``CONVERGED`` (when the recomputed
    certificate agrees: marginal violation and dual infeasibility within ``1e-9`` relative to
    the data, otherwise ``NUMERICAL_ERROR``), ``numItermax`` reached -> ``MAX_ITER``,
    infeasible -> ``INFEASIBLE``, unbounded -> ``UNBOUNDED``. Zero masses are handled by POT
    (it solves on the support and extends the duals). POT is imported here, lazily: it is a
    runtime dependency of this method only.

    References
    ----------
    .. [1] N. Bonneel, M. van de Panne, S. Paris and W. Heidrich, "Displacement interpolation
       using Lagrangian mass transport", ACM Transactions on Graphics 30(6), 2011 (the network
       simplex implementation in POT).
    .. [2] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22(78):1-8, 2021.
    """
    started = time.perf_counter()
    xp = array_namespace(C, a, b)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    prob = prepare_problem(a, b, C, xp=xp)  # validation only; POT handles the support itself
    if not masses_match(prob.mass_a, prob.mass_b):
        return infeasible_result(prob, started, mass_mismatch_message(prob.mass_a, prob.mass_b))
    if monitor is not None:
        stop = monitor.check()
        if stop is not None:
            return _stopped(prob, stop, started)

    import ot  # lazy: POT is needed by this method only

    a_h = np.array(to_numpy(a), dtype=np.float64)  # copies: POT must not see the caller's arrays
    b_h = np.array(to_numpy(b), dtype=np.float64)
    C_h = np.array(to_numpy(C), dtype=np.float64, order="C")
    with warnings.catch_warnings():
        # POT reports non-optimal outcomes by warnings; here they become the status.
        warnings.simplefilter("ignore")
        P, log = ot.emd(a_h, b_h, C_h, numItermax=int(max_iter), log=True, check_marginals=False)
    u = np.asarray(log["u"], dtype=np.float64)
    v = np.asarray(log["v"], dtype=np.float64)
    code = int(log["result_code"])

    b_bal = b_h * (a_h.sum() / b_h.sum())  # what POT solved for (masses equal to round-off)
    err = float(np.abs(P.sum(axis=1) - a_h).sum() + np.abs(P.sum(axis=0) - b_bal).sum())
    cost = float(np.vdot(P, C_h))
    gap = cost - float(u @ a_h + v @ b_bal)
    # Dual feasibility only matters on the support (POT's estimates off it are heuristic).
    sa, sb = a_h > 0, b_h > 0
    viol = u[sa][:, None] + v[sb][None, :] - C_h[np.ix_(sa, sb)]
    infeas = float(max(0.0, viol.max())) if viol.size else 0.0
    certificate = {
        "marginal_error_l1": err,
        "dual_gap": gap,
        "dual_infeasibility": infeas,
        "transport_cost": cost,
    }

    scale_c = float(np.abs(C_h).max()) or 1.0
    failure = ""
    if code == _OPTIMAL:
        status = SolverStatus.CONVERGED
        finite = all(math.isfinite(x) for x in certificate.values())
        if not finite or err > _CERT_RTOL * prob.mass_a or infeas > _CERT_RTOL * scale_c:
            status = SolverStatus.NUMERICAL_ERROR
            failure = "the network simplex reported optimality but its certificate disagrees"
    elif code == _MAX_ITER:
        status = SolverStatus.MAX_ITER
    elif code == _UNBOUNDED:
        status = SolverStatus.UNBOUNDED
    else:
        status = SolverStatus.INFEASIBLE

    if status is SolverStatus.CONVERGED:
        message = f"network simplex: optimal, cost {cost:.10g}, duality gap {gap:.3e}"
    elif status is SolverStatus.MAX_ITER:
        message = f"network simplex: numItermax={max_iter} reached before optimality"
    elif status is SolverStatus.NUMERICAL_ERROR:
        message = f"network simplex: {failure} (marginal violation {err:.3e}, dual "
        message += f"infeasibility {infeas:.3e})"
    else:
        message = f"network simplex: {log['warning']}"
    if monitor is not None:
        monitor.record(0, cost, marginal_error_l1=err, dual_gap=gap, stage="exact")
    return SolverResult(
        status=status,
        objective=cost,
        iterations=0,
        solve_time_s=time.perf_counter() - started,
        certificate=certificate,
        solution={
            "f": xp.asarray(u),
            "g": xp.asarray(v),
            "plan": xp.asarray(P),
            "transport_cost": cost,
        },
        message=message,
        info={"result_code": code, "warning": log["warning"], "num_iter_max": int(max_iter)},
    )


def _stopped(prob: Any, status: SolverStatus, started: float) -> SolverResult:
    """Cancelled or out of time before the (uninterruptible) solve started: the zero plan and
    zero potentials, with their (honest, poor) certificate."""
    xp = prob.xp
    reason = "cancelled" if status is SolverStatus.CANCELLED else "time limit reached"
    c_min = float(xp.min(prob.C))
    return SolverResult(
        status=status,
        objective=0.0,
        iterations=0,
        solve_time_s=time.perf_counter() - started,
        certificate={
            "marginal_error_l1": prob.mass_a + prob.mass_b,
            "dual_gap": 0.0,
            "dual_infeasibility": max(0.0, -c_min),
            "transport_cost": 0.0,
        },
        solution={
            "f": xp.zeros(prob.n),
            "g": xp.zeros(prob.m),
            "plan": xp.zeros((prob.n, prob.m)),
            "transport_cost": 0.0,
        },
        message=f"network simplex: {reason} before the solve started; returning the zero plan",
    )
