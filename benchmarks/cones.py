"""Conic benchmark: our SCS-type solver with spectral matrix cones against cvxpy -> SCS 3.3.x with
standard cones (what users get today), SCS built with spectral cones, and Clarabel as the
objective reference; plus a projection micro-benchmark.

Run: ``python -m benchmarks.cones [--quick] [--seeds S] [--repeats R] [--threads T] [--cap S]
[--ref-cap S] [--scs-spectral DIR] [--only FAMILIES] [--no-projections] [--no-families]``.

Spec: ../shared/BENCHMARKS.md ("Conic programs with spectral matrix cones").

* One process, the same data for every method; BLAS/OpenMP threads are fixed (``--threads``,
  default 1) in ``os.environ`` before numpy is imported. Per instance the methods run
  interleaved: repeat 1 of every method, then repeat 2 of every method, ...
* **Projection micro-benchmark** (n in {50, 100, 200, 400}): the time of
  ``project_cone(v, ConeSpec(...))`` for one spectral cone (log-det ``d`` of order n; nuclear norm
  of an n x n/2 and an n x n matrix; sum of the k = 10 largest eigenvalues of an n x n matrix; the
  PSD cone; ``ell1`` of a vector of length n^2) divided by the time of the bare factorisation it
  needs on the same matrix (``np.linalg.eigh``; ``np.linalg.svd(full_matrices=False)`` for the
  nuclear cone; ``np.sort`` of the vector for ell1), median of interleaved repeats (each a loop
  of >= 20 ms; the ratio of the minima is shown too, as a shared machine is noisy). The points
  are chosen so that every projection is non-trivial (outside the cone and its polar). Target
  <= 1.1.
* **Families** (seeds 5, quick 2; quick uses the two smaller sizes): D-optimal experimental
  design (log-det cone; n in {20, 30, 50, 80}, p = 2n candidates ``v_j ~ N(0, I_n)``); robust
  PCA (nuclear-norm + ell1 cones; m in {60, 100, 150, 200}, n = m / 2, ``M = U W^T / sqrt(10)``
  of rank 10 plus 5% of the entries corrupted by ``U[-5, 5]``, ``lam = 1 / sqrt(m)``); graph
  partitioning (sum-of-k-largest cone, Donath-Hoffman bound; n in {100, 150, 200, 300}, k = 10,
  Erdos-Renyi G(n, 0.1)); max-cut SDP (PSD cone; n in {100, 200}, G(n, 0.1), unit weights).
* Methods: **ours** = ``workers.solvers.conic.templates`` (spectral formulation) +
  ``solve_conic``; **SCS-spectral** = SCS's C solver built with ``-Duse_spectral_cones=true``
  (``--scs-spectral DIR``, see below) on the *same* ``(A, b, c, K)``; **cvxpy+SCS** = the user's
  cvxpy model with standard atoms (``cp.log_det``, ``cp.normNuc``, ``cp.lambda_sum_largest``, a
  PSD variable) solved by the installed SCS 3.3.x; **Clarabel** (via cvxpy, default tolerances,
  once per instance) = the objective reference, only up to a size per family (an interior-point
  method on the PSD reformulations is dense in ``n^2``) and within ``--ref-cap``; where it is
  not run or does not finish, the reference is the same cvxpy model solved by SCS to
  ``eps = 1e-8`` (independent of ours; the table names the source). All at
  ``eps_abs = eps_rel = 1e-4`` and ``1e-6``, ``max_iter`` 100000, each run
  capped at ``--cap`` seconds (our ``Monitor`` time limit, SCS's ``time_limit_secs``). Every
  SCS-type method stops on SCS's residual formulas on its own formulation.
* Times: ours = ``solve_conic`` wall time (setup included), plus the template build shown
  apart; SCS-spectral = wall time of constructing and solving the C solver; SCS solver = cvxpy's
  ``solver_stats.setup_time + solve_time`` (SCS's own timers); cvxpy+SCS total = wall time of
  building the cvxpy problem and ``problem.solve`` (canonicalisation included). Ratios per seed,
  then the median over seeds: ``SCS solver / ours``, ``cvxpy+SCS total / ours total`` (ours total
  = build + solve) and ``ours / SCS-spectral``.
* External evaluator (solvers' own objectives are never used): from each method's returned
  variables in the user's terms: design ``log det(V diag(w+) V^T)`` at the returned weights
  ``w+ = max(w, 0)`` (residual ``|1^T w - 1| + sum(max(-w, 0))``); robust PCA ``||L||_* + lam
  ||S||_1`` at the returned ``L, S`` (residual ``||L + S - M||_F / ||M||_F``); graph partitioning
  the bound ``n / (2k) sum_{i <= k} lambda_i^up(L + diag(d - mean d))`` (valid for any ``d``;
  residual ``|1^T d|``); max-cut ``<Lap, X> / 4`` (residual ``max(max |diag X - 1|,
  -lambda_min(X))``). Relative error ``|f - f_ref| / max(1, |f_ref|)``, the worst over seeds.
* Targets (BENCHMARKS.md): >= 5x faster than cvxpy+SCS (total, median over seeds) on
  experimental design and robust PCA at 1e-4; no slower than SCS-spectral; objectives within
  1e-4 relative of Clarabel, judged at ``eps = 1e-6`` (the tolerance at which the issue's tests
  compare objectives; a first-order method stopped at 1e-4 on a problem with ``m n`` entries
  can be off by more, for every method: the errors at 1e-4 are shown as information).
  Projection <= 1.1 x eigh/svd.

SCS with spectral cones: the PyPI sdist of scs 3.3.1 ships the spectral-cone sources behind the
meson option ``use_spectral_cones``. Built here with Debian's OpenBLAS (unpacked, no install)::

    PKG_CONFIG_PATH=<openblas>/pkgconfig pip wheel scs==3.3.1 --no-binary scs --no-deps \\
        -Csetup-args=-Duse_spectral_cones=true -w wheel && unzip wheel/scs-*.whl -d DIR

and run with ``LD_LIBRARY_PATH`` pointing at that OpenBLAS and ``--scs-spectral DIR``: only its
``_scs_direct`` extension is loaded (under another module name), so the installed SCS that cvxpy
uses stays the reference for the standard cones.
"""

from __future__ import annotations

import os
import sys

from benchmarks.harness import pin_threads

pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import glob  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import cvxpy as cp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scs  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    code_state,
    fmt_e,
    log,
    machine,
    timed,
)
from workers.solvers.conic.cones import ConeSpec, project_cone, svec  # noqa: E402
from workers.solvers.conic.scs import solve_conic  # noqa: E402
from workers.solvers.conic.templates import (  # noqa: E402
    experimental_design,
    graph_partitioning,
    max_cut,
    robust_pca,
)
from workers.solvers.monitor import Monitor  # noqa: E402
from workers.solvers.result import SolverStatus  # noqa: E402

SEED = 20250


MAX_ITER = 100_000
TARGET_PROJ_RATIO = 1.1
TARGET_SPEEDUP = 5.0  # vs cvxpy+SCS total, design and robust PCA, at 1e-4
TARGET_SPEEDUP_EPS = 1e-4
TARGET_OBJ_RTOL = 1e-4
TARGET_OBJ_EPS = 1e-6  # the objective target is judged on the runs at this tolerance
TARGET_VS_SPECTRAL = 1.0  # ours / SCS-spectral time
REF_EPS = 1e-8  # fallback reference: cvxpy+SCS to this tolerance where Clarabel is not run
RPCA_RANK = 10
RPCA_DENSITY = 0.05
GRAPH_K = 10
GRAPH_P = 0.1


# ----------------------------------------------------------------------------- projections


@dataclass
class ProjCase:
    cone: str
    spec: ConeSpec
    v: np.ndarray
    baseline_name: str
    baseline: Callable[[], Any]


def _sym(rng: np.random.Generator, n: int) -> np.ndarray:
    G = rng.standard_normal((n, n))
    return (G + G.T) / math.sqrt(2 * n)


def projection_cases(n: int, rng: np.random.Generator) -> list[ProjCase]:
    """One point per cone, outside the cone and its polar (every projection does real work)."""
    out: list[ProjCase] = []
    # log-det: X with eigenvalues of both signs (not in the cone), t0 = 0, v0 = 1
    X = _sym(rng, n) + 0.3 * np.eye(n)
    v = np.concatenate(([0.0, 1.0], svec(X)))
    out.append(ProjCase("log-det d", ConeSpec(d=(n,)), v, "eigh", lambda X=X: np.linalg.eigh(X)))
    for cols in (n // 2, n):
        Y = rng.standard_normal((n, cols))
        vec = Y.ravel(order="F")
        t0 = 0.5 * float(np.sum(np.linalg.svd(Y, compute_uv=False)))
        v = np.concatenate(([t0], vec))
        # the projection factors the row-major view of the stored columns; time the same array
        Yt = v[1:].reshape(cols, n)
        out.append(
            ProjCase(
                f"nuclear {n}x{cols}",
                ConeSpec(nuc_m=(n,), nuc_n=(cols,)),
                v,
                "svd",
                lambda Yt=Yt: np.linalg.svd(Yt, full_matrices=False),
            )
        )
    X = _sym(rng, n)
    lam = np.linalg.eigvalsh(X)[::-1]
    v = np.concatenate(([0.5 * float(np.sum(lam[:GRAPH_K]))], svec(X)))
    out.append(
        ProjCase(
            f"sum-largest k={GRAPH_K}",
            ConeSpec(sl_n=(n,), sl_k=(GRAPH_K,)),
            v,
            "eigh",
            lambda X=X: np.linalg.eigh(X),
        )
    )
    X = _sym(rng, n)
    out.append(ProjCase("PSD s", ConeSpec(s=(n,)), svec(X), "eigh", lambda X=X: np.linalg.eigh(X)))
    x = rng.standard_normal(n * n)
    v = np.concatenate(([0.5 * float(np.sum(np.abs(x)))], x))
    out.append(
        ProjCase(f"ell1 len {n * n}", ConeSpec(ell1=(n * n,)), v, "sort", lambda x=x: np.sort(x))
    )
    return out


def _loop_time(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def projection_table(sizes: list[int], repeats: int) -> tuple[list[str], list[bool]]:
    rng = np.random.default_rng(SEED)
    lines = [
        "| n | cone | projection ms | baseline | baseline ms | ratio (medians)"
        " | ratio (minima) | target <= 1.1 |",
        "|---:|---|---:|---|---:|---:|---:|---|",
    ]
    verdicts: list[bool] = []
    for n in sizes:
        for case in projection_cases(n, rng):
            spec, v = case.spec, case.v

            def proj(spec: ConeSpec = spec, v: np.ndarray = v) -> Any:
                return project_cone(v, spec)

            proj()
            case.baseline()  # warm caches (index plans, LAPACK workspaces)
            est = max(_loop_time(case.baseline, 1), 1e-6)
            number = max(1, int(0.02 / est))
            tp: list[float] = []
            tb: list[float] = []
            gc.collect()
            for _ in range(repeats):
                tp.append(_loop_time(proj, number))
                tb.append(_loop_time(case.baseline, number))
            mp_, mb = float(np.median(tp)), float(np.median(tb))
            ratio = mp_ / mb
            ok = ratio <= TARGET_PROJ_RATIO
            verdicts.append(ok)
            lines.append(
                f"| {n} | {case.cone} | {1e3 * mp_:.3f} | {case.baseline_name} | {1e3 * mb:.3f}"
                f" | {ratio:.2f} | {min(tp) / min(tb):.2f} | {'PASS' if ok else 'MISS'} |"
            )
    return lines, verdicts


# ----------------------------------------------------------------------------- instances

Parts = dict[str, np.ndarray]
Recover = Callable[[Any, Any, Any], dict[str, Any]]


@dataclass
class Evaluation:
    objective: float
    residual: float


@dataclass
class Instance:
    family: str
    size: int
    seed: int
    data: dict[str, Any]
    template: Callable[[], tuple[Any, Any, Any, ConeSpec, Recover]]
    parts_from_x: Callable[[Any, Any, Any, Recover], Parts]  # our / SCS-spectral solution
    cvxpy_model: Callable[[], tuple[cp.Problem, Callable[[], Parts]]]
    evaluate: Callable[[Parts], Evaluation]


def _er_laplacian(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    A = np.triu((rng.random((n, n)) < p).astype(float), 1)
    A = A + A.T
    return np.diag(A.sum(axis=1)) - A


def design_instance(n: int, seed: int) -> Instance:
    rng = np.random.default_rng(SEED + 1000 * n + seed)
    p = 2 * n
    V = rng.standard_normal((n, p))

    def model() -> tuple[cp.Problem, Callable[[], Parts]]:
        w = cp.Variable(p)
        prob = cp.Problem(cp.Maximize(cp.log_det(V @ cp.diag(w) @ V.T)), [w >= 0, cp.sum(w) == 1])
        return prob, lambda: {"w": np.asarray(w.value, dtype=float)}

    def evaluate(parts: Parts) -> Evaluation:
        w = np.asarray(parts["w"], dtype=float).ravel()
        resid = abs(float(w.sum()) - 1.0) + float(np.sum(np.maximum(-w, 0.0)))
        sign, logdet = np.linalg.slogdet((V * np.maximum(w, 0.0)) @ V.T)
        return Evaluation(float(logdet) if sign > 0 else -math.inf, resid)

    return Instance(
        "design",
        n,
        seed,
        {"V": V},
        lambda: experimental_design(V),
        lambda x, y, s, rec: {"w": np.asarray(x, dtype=float)[:p]},
        model,
        evaluate,
    )


def rpca_instance(m: int, seed: int) -> Instance:
    rng = np.random.default_rng(SEED + 2000 * m + seed)
    n = m // 2
    L0 = rng.standard_normal((m, RPCA_RANK)) @ rng.standard_normal((n, RPCA_RANK)).T
    L0 /= math.sqrt(RPCA_RANK)
    S0 = np.where(rng.random((m, n)) < RPCA_DENSITY, rng.uniform(-5.0, 5.0, (m, n)), 0.0)
    M = L0 + S0
    lam = 1.0 / math.sqrt(max(m, n))
    normM = float(np.linalg.norm(M))

    def model() -> tuple[cp.Problem, Callable[[], Parts]]:
        L = cp.Variable((m, n))
        S = cp.Variable((m, n))
        prob = cp.Problem(cp.Minimize(cp.normNuc(L) + lam * cp.sum(cp.abs(S))), [L + S == M])
        return prob, lambda: {"L": np.asarray(L.value), "S": np.asarray(S.value)}

    def evaluate(parts: Parts) -> Evaluation:
        L, S = np.asarray(parts["L"], dtype=float), np.asarray(parts["S"], dtype=float)
        nuc = float(np.sum(np.linalg.svd(L, compute_uv=False)))
        obj = nuc + lam * float(np.sum(np.abs(S)))
        return Evaluation(obj, float(np.linalg.norm(L + S - M)) / normM)

    def parts(x: Any, y: Any, s: Any, rec: Recover) -> Parts:
        out = rec(x, y, s)
        return {"L": np.asarray(out["L"]), "S": np.asarray(out["S"])}

    return Instance(
        "rpca", m, seed, {"M": M}, lambda: robust_pca(M, lam=lam), parts, model, evaluate
    )


def graph_instance(n: int, seed: int) -> Instance:
    rng = np.random.default_rng(SEED + 3000 * n + seed)
    Lap = _er_laplacian(rng, n, GRAPH_P)
    k = GRAPH_K

    def model() -> tuple[cp.Problem, Callable[[], Parts]]:
        d = cp.Variable(n)
        bound = -(n / (2.0 * k)) * cp.lambda_sum_largest(-(Lap + cp.diag(d)), k)
        prob = cp.Problem(cp.Maximize(bound), [cp.sum(d) == 0])
        return prob, lambda: {"d": np.asarray(d.value, dtype=float)}

    def evaluate(parts: Parts) -> Evaluation:
        d = np.asarray(parts["d"], dtype=float).ravel()
        lam = np.linalg.eigvalsh(Lap + np.diag(d - d.mean()))
        return Evaluation(n / (2.0 * k) * float(np.sum(lam[:k])), abs(float(d.sum())))

    return Instance(
        "graph",
        n,
        seed,
        {"L": Lap},
        lambda: graph_partitioning(Lap, k),
        lambda x, y, s, rec: {"d": np.asarray(x, dtype=float)[:n]},
        model,
        evaluate,
    )


def maxcut_instance(n: int, seed: int) -> Instance:
    rng = np.random.default_rng(SEED + 4000 * n + seed)
    Lap = _er_laplacian(rng, n, GRAPH_P)
    W = np.diag(np.diag(Lap)) - Lap

    def model() -> tuple[cp.Problem, Callable[[], Parts]]:
        X = cp.Variable((n, n), PSD=True)
        prob = cp.Problem(cp.Maximize(0.25 * cp.trace(Lap @ X)), [cp.diag(X) == 1])
        return prob, lambda: {"X": np.asarray(X.value, dtype=float)}

    def evaluate(parts: Parts) -> Evaluation:
        X = np.asarray(parts["X"], dtype=float)
        X = 0.5 * (X + X.T)
        lam_min = float(np.linalg.eigvalsh(X)[0])
        resid = max(float(np.max(np.abs(np.diag(X) - 1.0))), -lam_min, 0.0)
        return Evaluation(0.25 * float(np.sum(Lap * X)), resid)

    return Instance(
        "maxcut",
        n,
        seed,
        {"W": W},
        lambda: max_cut(W, n_rounds=1),
        lambda x, y, s, rec: {"X": np.asarray(rec(x, y, s)["X"])},
        model,
        evaluate,
    )


@dataclass
class Family:
    key: str
    title: str
    sizes: list[int]
    size_name: str
    make: Callable[[int, int], Instance]
    clarabel_max: int  # Clarabel reference only for sizes <= this
    speed_target: bool


FAMILIES = [
    Family(
        "design",
        "D-optimal experimental design (log-det cone), p = 2n",
        [20, 30, 50, 80],
        "n",
        design_instance,
        50,
        True,
    ),
    Family(
        "rpca",
        "Robust PCA (nuclear-norm + ell1 cones), m x m/2, rank 10 + 5% corruption",
        [60, 100, 150, 200],
        "m",
        rpca_instance,
        60,
        True,
    ),
    Family(
        "graph",
        "Graph partitioning (sum-of-10-largest cone), G(n, 0.1)",
        [100, 150, 200, 300],
        "n",
        graph_instance,
        0,  # Clarabel needed > 4.5 min at n = 100 (two PSD cones of order n)
        False,
    ),
    Family(
        "maxcut", "Max-cut SDP (PSD cone), G(n, 0.1)", [100, 200], "n", maxcut_instance, 100, False
    ),
]


# ----------------------------------------------------------------------------- solvers


@dataclass
class Outcome:
    parts: Parts | None
    time: float  # the method's headline time (see the module docstring)
    status: str
    converged: bool
    iterations: int = 0
    solver_time: float = math.nan  # cvxpy+SCS: SCS's setup + solve timers
    build_time: float = math.nan  # ours: template build
    capped: bool = False
    note: str = ""


def solve_ours(inst: Instance, eps: float, cap: float) -> Outcome:
    (A, b, c, K, rec), build = timed(inst.template)
    mon = Monitor(time_limit_s=cap, trace_every=10**9)
    res, el = timed(
        lambda: solve_conic(
            A, b, c, K, eps_abs=eps, eps_rel=eps, eps_infeas=1e-7, max_iter=MAX_ITER, monitor=mon
        )
    )
    sol = res.solution
    parts = None
    if "x" in sol and "y" in sol and "s" in sol:
        parts = inst.parts_from_x(sol["x"], sol["y"], sol["s"], rec)
    return Outcome(
        parts,
        el,
        res.status.value,
        res.status is SolverStatus.CONVERGED,
        int(res.iterations),
        build_time=build,
        capped=res.status in (SolverStatus.TIME_LIMIT, SolverStatus.MAX_ITER),
    )


@dataclass
class SpectralSCS:
    module: Any = None
    reason: str = "not requested (--scs-spectral DIR)"
    version: str = ""


def load_spectral_scs(directory: str | None) -> SpectralSCS:
    """The ``_scs_direct`` extension of an SCS build with spectral cones, loaded under another
    module name (its init symbol only depends on the last name component)."""
    if not directory:
        return SpectralSCS()
    paths = sorted(glob.glob(os.path.join(directory, "scs", "_scs_direct*.so")))
    if not paths:
        return SpectralSCS(reason=f"not built: no scs/_scs_direct*.so under {directory}")
    name = "scs_spectral_build._scs_direct"
    try:
        loader = importlib.machinery.ExtensionFileLoader(name, paths[0])
        spec = importlib.util.spec_from_file_location(name, paths[0], loader=loader)
        if spec is None:
            raise ImportError("no module spec")
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (ImportError, OSError) as exc:
        return SpectralSCS(reason=f"not built: cannot load {paths[0]}: {exc}")
    # check that the build really has the spectral cones: a one-variable log-det problem
    try:
        A = sp.csc_matrix(np.array([[-1.0], [0.0], [0.0]]))
        out = _spectral_call(
            module, A, np.array([0.0, 1.0, 1.0]), np.array([1.0]), {"d": [1]}, 1e-6
        )
        if out["info"]["status_val"] not in (1, 2):
            raise RuntimeError(f"status {out['info']['status']}")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return SpectralSCS(reason=f"not built: build at {directory} rejects spectral cones ({exc})")
    return SpectralSCS(module, "", str(module.version()))


def _spectral_call(
    module: Any, A: Any, b: np.ndarray, c: np.ndarray, cone: dict[str, Any], eps: float, **kw: Any
) -> dict[str, Any]:
    A = sp.csc_matrix(A)
    A.sort_indices()
    solver = module.SCS(
        A.shape,
        np.asarray(A.data, dtype=np.float64),
        np.asarray(A.indices, dtype=np.int64),
        np.asarray(A.indptr, dtype=np.int64),
        None,
        None,
        None,
        np.asarray(b, dtype=np.float64),
        np.asarray(c, dtype=np.float64),
        cone,
        eps_abs=eps,
        eps_rel=eps,
        verbose=False,
        **kw,
    )
    return dict(solver.solve(False, None, None, None))


def _scs_cone_dict(K: ConeSpec) -> dict[str, Any]:
    cone: dict[str, Any] = {"z": K.z, "l": K.l}
    if K.bu:
        cone["bu"], cone["bl"] = list(K.bu), list(K.bl)
    for name in ("q", "s", "p", "d", "nuc_m", "nuc_n", "ell1", "sl_n", "sl_k"):
        value = getattr(K, name)
        if value:
            cone[name] = list(value)
    cone["ep"], cone["ed"] = K.ep, K.ed
    return cone


def solve_spectral(inst: Instance, eps: float, cap: float, spectral: SpectralSCS) -> Outcome:
    A, b, c, K, rec = inst.template()
    cone = _scs_cone_dict(K)
    out, el = timed(
        lambda: _spectral_call(
            spectral.module, A, b, c, cone, eps, max_iters=MAX_ITER, time_limit_secs=cap
        )
    )
    info = out["info"]
    status = str(info["status"])
    parts = inst.parts_from_x(out["x"], out["y"], out["s"], rec)
    return Outcome(
        parts,
        el,
        status,
        status == "solved",
        int(info["iter"]),
        capped=int(info["iter"]) >= MAX_ITER or el >= cap,
    )


def solve_cvxpy(inst: Instance, solver: str, eps: float | None, cap: float) -> Outcome:
    opts: dict[str, Any]
    if solver == "SCS":
        opts = {"eps_abs": eps, "eps_rel": eps, "max_iters": MAX_ITER, "time_limit_secs": cap}
    else:
        opts = {"time_limit": cap}

    def run() -> tuple[cp.Problem, Callable[[], Parts]]:
        prob, get = inst.cvxpy_model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=solver, **opts)
        return prob, get

    gc.collect()
    t0 = time.perf_counter()
    try:
        prob, get = run()
    except cp.error.SolverError as exc:
        el = time.perf_counter() - t0
        return Outcome(None, math.nan, f"error: {exc}"[:80], False, capped=el >= 0.98 * cap)
    el = time.perf_counter() - t0
    stats = prob.solver_stats
    solver_time = float(stats.solve_time or 0.0) + float(stats.setup_time or 0.0)
    status = str(prob.status)
    parts = None
    try:
        parts = get()
        if any(v is None or v.dtype == object for v in parts.values()):
            parts = None
    except (TypeError, ValueError):
        parts = None
    iters = int(stats.num_iters) if stats.num_iters is not None else 0
    return Outcome(
        parts,
        el,
        status,
        status == cp.OPTIMAL,
        iters,
        solver_time=solver_time,
        capped=solver_time >= 0.98 * cap or iters >= MAX_ITER,
    )


# ----------------------------------------------------------------------------- runs


@dataclass
class MethodRun:
    times: list[float] = field(default_factory=list)
    solver_times: list[float] = field(default_factory=list)
    build_times: list[float] = field(default_factory=list)
    status: str = ""
    converged: bool = False
    iterations: int = 0
    capped: bool = False
    evaluation: Evaluation | None = None
    skipped: str = ""
    errored: bool = False

    @property
    def time(self) -> float:
        return float(np.median(self.times)) if self.times else math.nan

    @property
    def solver_time(self) -> float:
        return float(np.median(self.solver_times)) if self.solver_times else math.nan

    @property
    def build_time(self) -> float:
        return float(np.median(self.build_times)) if self.build_times else math.nan


@dataclass
class InstanceResult:
    inst: Instance
    runs: dict[tuple[str, float], MethodRun]
    ref: Evaluation | None
    ref_source: str
    ref_note: str
    ref_time: float


class Config:
    cap: float = 300.0
    ref_cap: float = 900.0
    repeat_limit: float = 20.0


CFG = Config()
METHODS = ("ours", "SCS-spectral", "cvxpy+SCS")


def _record(run: MethodRun, out: Outcome, inst: Instance, first: bool) -> None:
    if not math.isnan(out.time):
        run.times.append(out.time)
    if not math.isnan(out.solver_time):
        run.solver_times.append(out.solver_time)
    if not math.isnan(out.build_time):
        run.build_times.append(out.build_time)
    if first:
        run.status = out.status
        run.converged = out.converged
        run.iterations = out.iterations
        run.capped = out.capped
        if out.parts is not None:
            try:
                run.evaluation = inst.evaluate(out.parts)
            except (np.linalg.LinAlgError, ValueError) as exc:
                run.status += f" (evaluation failed: {exc})"


def _blocked(
    blocked: dict[tuple[str, str, float], int], key: tuple[str, str, float], size: int
) -> bool:
    """A method that hit the cap at some size is skipped on the larger sizes (not other seeds)."""
    return key in blocked and size > blocked[key]


def run_instance(
    inst: Instance,
    fam: Family,
    tols: list[float],
    repeats: int,
    spectral: SpectralSCS,
    blocked: dict[tuple[str, str, float], int],
) -> InstanceResult:
    runs: dict[tuple[str, float], MethodRun] = {}
    solvers: dict[str, Callable[[float], Outcome]] = {
        "ours": lambda eps: solve_ours(inst, eps, CFG.cap),
        "SCS-spectral": lambda eps: solve_spectral(inst, eps, CFG.cap, spectral),
        "cvxpy+SCS": lambda eps: solve_cvxpy(inst, "SCS", eps, CFG.cap),
    }
    active: list[tuple[str, float]] = []
    for eps in tols:
        for meth in METHODS:
            run = MethodRun()
            runs[(meth, eps)] = run
            if meth == "SCS-spectral" and spectral.module is None:
                run.skipped = spectral.reason
            elif _blocked(blocked, (fam.key, meth, eps), inst.size):
                run.skipped = "skipped (capped on a smaller size)"
            else:
                active.append((meth, eps))
    for r in range(repeats):
        for meth, eps in active:
            run = runs[(meth, eps)]
            if r > 0 and (
                run.capped or run.errored or not run.times or run.time > CFG.repeat_limit
            ):
                continue
            log(f"  {fam.key} {fam.size_name}={inst.size} seed {inst.seed} {meth} eps={eps:g}")
            try:
                out = solvers[meth](eps)
            except Exception as exc:  # noqa: BLE001 - a crash is a result
                run.status = f"error: {type(exc).__name__}: {exc}"[:100]
                run.errored = True
                continue
            _record(run, out, inst, r == 0)
    for meth, eps in active:
        if runs[(meth, eps)].capped:
            blocked.setdefault((fam.key, meth, eps), inst.size)
    ref, source, note, ref_time = None, "", "", math.nan
    if inst.size > fam.clarabel_max:
        note = "Clarabel not run (size)"
    elif _blocked(blocked, (fam.key, "Clarabel", 0.0), inst.size):
        note = "Clarabel skipped (capped on a smaller size)"
    else:
        log(f"  {fam.key} {fam.size_name}={inst.size} seed {inst.seed} Clarabel")
        out = solve_cvxpy(inst, "CLARABEL", None, CFG.ref_cap)
        ref_time = out.time
        if out.converged and out.parts is not None:
            ref, source = inst.evaluate(out.parts), "Clarabel"
        else:
            note = f"Clarabel {out.status}"
            if out.capped:
                blocked.setdefault((fam.key, "Clarabel", 0.0), inst.size)
    if ref is None and not _blocked(blocked, (fam.key, "SCS-ref", 0.0), inst.size):
        # fallback: the standard-cone model solved by SCS to REF_EPS (independent of ours)
        log(f"  {fam.key} {fam.size_name}={inst.size} seed {inst.seed} SCS reference")
        out = solve_cvxpy(inst, "SCS", REF_EPS, CFG.ref_cap)
        ref_time = out.time
        if out.converged and out.parts is not None:
            ref, source = inst.evaluate(out.parts), f"SCS {REF_EPS:g}"
        else:
            note += f"; SCS {REF_EPS:g} {out.status}"
            if out.capped:
                blocked.setdefault((fam.key, "SCS-ref", 0.0), inst.size)
    return InstanceResult(inst, runs, ref, source, note, ref_time)


# ----------------------------------------------------------------------------- tables


def _fmt_t(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _fmt_r(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def _med(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.median(xs)) if xs else math.nan


def _worst(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(max(xs)) if xs else math.nan


def _rel_err(ev: Evaluation | None, ref: Evaluation | None) -> float:
    if ev is None or ref is None:
        return math.nan
    if not math.isfinite(ev.objective):
        return math.inf
    return abs(ev.objective - ref.objective) / max(1.0, abs(ref.objective))


def _status_count(runs: list[MethodRun]) -> str:
    done = [r for r in runs if not r.skipped]
    if not done:
        return runs[0].skipped if runs else "-"
    ok = sum(r.converged for r in done)
    other = sorted({r.status for r in done if not r.converged})
    extra = f" ({', '.join(other)})" if other else ""
    return f"{ok}/{len(done)}{extra}"


def family_tables(
    fam: Family, results: list[InstanceResult], tols: list[float], spectral: SpectralSCS
) -> tuple[list[str], list[str], list[tuple[str, bool]]]:
    """Time table, accuracy table and (label, verdict) pairs."""
    times = [
        f"| {fam.size_name} | eps | ours build s | ours solve s | ours iters | ours converged"
        " | SCS-spectral s | SCS-spectral solved | SCS solver s | cvxpy+SCS total s"
        " | SCS solved | SCS solver / ours | cvxpy+SCS total / ours total"
        " | ours / SCS-spectral | target |",
        "|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---|---:|---:|---:|---|",
    ]
    acc = [
        f"| {fam.size_name} | eps | reference (time) | err ours | err SCS-spectral"
        " | err cvxpy+SCS | resid ours | resid SCS-spectral | resid cvxpy+SCS"
        " | target (err <= 1e-4) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    verdicts: list[tuple[str, bool]] = []
    for size in fam.sizes:
        group = [r for r in results if r.inst.size == size]
        if not group:
            continue
        for eps in tols:
            ours = [g.runs[("ours", eps)] for g in group]
            spec = [g.runs[("SCS-spectral", eps)] for g in group]
            std = [g.runs[("cvxpy+SCS", eps)] for g in group]
            r_solver, r_total, r_spec = [], [], []
            for o, s, c in zip(ours, spec, std, strict=True):
                if o.time > 0:
                    r_solver.append(c.solver_time / o.time)
                    r_total.append(c.time / (o.time + o.build_time))
                    r_spec.append(o.time / s.time if s.times else math.nan)
            ratio_total = _med(r_total)
            ratio_spec = _med(r_spec)
            marks = []
            ours_ok = all(o.converged for o in ours)
            if fam.speed_target and eps == TARGET_SPEEDUP_EPS:
                ok = ratio_total >= TARGET_SPEEDUP and ours_ok
                verdicts.append((f"{fam.key} {fam.size_name}={size} >= 5x cvxpy+SCS", ok))
                marks.append(f">=5x: {'PASS' if ok else 'MISS'}")
            if (
                fam.speed_target
                and eps == TARGET_SPEEDUP_EPS
                and spectral.module is not None
                and not math.isnan(ratio_spec)
            ):
                ok = ratio_spec <= TARGET_VS_SPECTRAL and ours_ok
                verdicts.append((f"{fam.key} {fam.size_name}={size} <= SCS-spectral time", ok))
                marks.append(f"<=SCS-spec: {'PASS' if ok else 'MISS'}")
            spec_cells = (
                f"{_fmt_t(_med([s.time for s in spec]))} | {_status_count(spec)}"
                if spectral.module is not None
                else f"{spectral.reason} | -"
            )
            times.append(
                f"| {size} | {eps:g} | {_fmt_t(_med([o.build_time for o in ours]))}"
                f" | {_fmt_t(_med([o.time for o in ours]))}"
                f" | {_med([float(o.iterations) for o in ours]):.0f} | {_status_count(ours)}"
                f" | {spec_cells}"
                f" | {_fmt_t(_med([c.solver_time for c in std]))}"
                f" | {_fmt_t(_med([c.time for c in std]))} | {_status_count(std)}"
                f" | {_fmt_r(_med(r_solver))} | {_fmt_r(ratio_total)} | {_fmt_r(ratio_spec)}"
                f" | {'; '.join(marks) if marks else '-'} |"
            )
            n_ref = sum(g.ref is not None for g in group)
            sources = sorted({g.ref_source for g in group if g.ref is not None})
            ref_cell = (
                f"{'+'.join(sources) or 'none'} {n_ref}/{len(group)}"
                f" ({_fmt_t(_med([g.ref_time for g in group]))} s)"
            )
            notes = sorted({g.ref_note for g in group if g.ref_note})
            if notes:
                ref_cell += "; " + ", ".join(notes)
            errs = {
                name: _worst(
                    [_rel_err(g.runs[(name, eps)].evaluation, g.ref) for g in group if g.ref]
                )
                for name in METHODS
            }
            resid = {
                name: _worst(
                    [
                        g.runs[(name, eps)].evaluation.residual  # type: ignore[union-attr]
                        for g in group
                        if g.runs[(name, eps)].evaluation is not None
                    ]
                )
                for name in METHODS
            }
            if n_ref and eps != TARGET_OBJ_EPS:
                obj_mark = "info (judged at eps 1e-6)"
            elif n_ref:
                ok = errs["ours"] <= TARGET_OBJ_RTOL
                label = f"{fam.key} {fam.size_name}={size} eps={eps:g} objective"
                verdicts.append((f"{label} vs {'+'.join(sources)}", ok))
                obj_mark = "PASS" if ok else "MISS"
            else:
                obj_mark = "n/a (no reference)"
            acc.append(
                f"| {size} | {eps:g} | {ref_cell} | {fmt_e(errs['ours'])}"
                f" | {fmt_e(errs['SCS-spectral'])} | {fmt_e(errs['cvxpy+SCS'])}"
                f" | {fmt_e(resid['ours'])} | {fmt_e(resid['SCS-spectral'])}"
                f" | {fmt_e(resid['cvxpy+SCS'])} | {obj_mark} |"
            )
    return times, acc, verdicts


def objective_table(fam: Family, results: list[InstanceResult], tols: list[float]) -> list[str]:
    """Per seed: the evaluated objectives (the raw numbers behind the error columns)."""
    lines = [
        f"| {fam.size_name} | seed | reference | "
        + " | ".join(f"{m} @{eps:g}" for eps in tols for m in METHODS)
        + " |",
        "|---:|---:|---:|" + "---:|" * (len(tols) * len(METHODS)),
    ]
    for r in results:
        cells = [f"{r.ref.objective:.7g} ({r.ref_source})" if r.ref else "-"]
        for eps in tols:
            for m in METHODS:
                ev = r.runs[(m, eps)].evaluation
                cells.append(f"{ev.objective:.7g}" if ev else "-")
        lines.append(f"| {r.inst.size} | {r.inst.seed} | " + " | ".join(cells) + " |")
    return lines


# ----------------------------------------------------------------------------- main


def warm_up(spectral: SpectralSCS) -> None:
    """Tiny instances through every method (imports, caches, first LAPACK calls)."""
    for inst in (
        design_instance(4, 0),
        rpca_instance(8, 0),
        graph_instance(20, 0),
        maxcut_instance(6, 0),
    ):
        calls: list[Callable[[Instance], Any]] = [
            lambda i: solve_ours(i, 1e-3, 10.0),
            lambda i: solve_cvxpy(i, "SCS", 1e-3, 10.0),
        ]
        if spectral.module is not None:
            calls.append(lambda i: solve_spectral(i, 1e-3, 10.0, spectral))
        for fn in calls:
            try:
                fn(inst)
            except Exception as exc:  # noqa: BLE001 - only a warm-up
                log(f"warm-up {inst.family}: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, the two smaller sizes")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per size (default 5)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    parser.add_argument("--cap", type=float, default=None, help="per-run cap, s (default 300)")
    parser.add_argument(
        "--ref-cap", type=float, default=None, help="Clarabel cap, s (default 900; quick 300)"
    )
    parser.add_argument(
        "--repeat-limit", type=float, default=20.0, help="runs longer than this are not repeated"
    )
    parser.add_argument("--scs-spectral", default=None, help="dir holding an SCS spectral build")
    parser.add_argument("--only", default="", help="comma-separated families: design,rpca,...")
    parser.add_argument("--sizes", default="", help="comma-separated sizes (override the tier)")
    parser.add_argument("--no-projections", action="store_true")
    parser.add_argument("--no-families", action="store_true")
    args = parser.parse_args(argv)
    quick = args.quick
    seeds = args.seeds if args.seeds is not None else (2 if quick else 5)
    repeats = args.repeats if args.repeats is not None else (1 if quick else 3)
    CFG.cap = args.cap if args.cap is not None else (120.0 if quick else 300.0)
    CFG.ref_cap = args.ref_cap if args.ref_cap is not None else (300.0 if quick else 900.0)
    CFG.repeat_limit = args.repeat_limit
    tols = [1e-4, TARGET_OBJ_EPS]
    proj_sizes = [50, 100, 200, 400]
    proj_repeats = 9 if quick else 21
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    size_override = [int(s) for s in args.sizes.split(",") if s.strip()]

    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    spectral = load_spectral_scs(args.scs_spectral)
    out: list[str] = []
    cmd = " ".join(["python -m benchmarks.cones", *(sys.argv[1:] if argv is None else argv)])
    out.append(f"Command: `{cmd}`")
    out.append(
        f"Run on {when}. Machine: {machine()}."
        f" BLAS/OpenMP threads: {os.environ['OPENBLAS_NUM_THREADS']}."
    )
    spec_version = spectral.version if spectral.module is not None else spectral.reason
    out.append(
        f"numpy {np.__version__}, cvxpy {cp.__version__}, SCS (standard cones, via cvxpy)"
        f" {scs.__version__}, SCS-spectral {spec_version}; {code_state('conic')}."
    )
    out.append(
        f"Seeds {seeds}; repeats {repeats} (median; runs > {CFG.repeat_limit:g} s run once);"
        f" per-run cap {CFG.cap:g} s; Clarabel cap {CFG.ref_cap:g} s; eps"
        f" {', '.join(f'{e:g}' for e in tols)}."
    )
    verdicts: list[tuple[str, bool]] = []
    if not args.no_projections:
        log("projections")
        lines, proj_ok = projection_table(proj_sizes, proj_repeats)
        out += ["", "### Projection / factorisation time (median of repeats)", "", *lines]
        verdicts.append((f"projections <= 1.1 ({sum(proj_ok)}/{len(proj_ok)} cases)", all(proj_ok)))
    if not args.no_families:
        log("warm-up")
        warm_up(spectral)
        for fam in FAMILIES:
            if only and fam.key not in only:
                continue
            sizes = size_override or (fam.sizes[:2] if quick else fam.sizes)
            fam_run = Family(
                fam.key,
                fam.title,
                sizes,
                fam.size_name,
                fam.make,
                fam.clarabel_max,
                fam.speed_target,
            )
            blocked: dict[tuple[str, str, float], int] = {}
            results = []
            for size in sizes:
                for seed in range(seeds):
                    inst = fam.make(size, seed)
                    results.append(run_instance(inst, fam, tols, repeats, spectral, blocked))
            times, acc, fam_verdicts = family_tables(fam_run, results, tols, spectral)
            verdicts += fam_verdicts
            out += ["", f"### {fam.title}", "", "Times (medians over seeds):", "", *times]
            out += ["", "Objectives (worst over seeds):", "", *acc]
            out += ["", "Evaluated objectives per seed:", "", *objective_table(fam, results, tols)]
    out += ["", "### Targets", ""]
    out += [f"- {label}: {'PASS' if ok else 'MISS'}" for label, ok in verdicts]
    out.append("")
    out.append(f"Total benchmark wall time: {time.perf_counter() - started:.0f} s.")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
