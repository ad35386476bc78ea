"""The conic kinds over HTTP on the real stack, judged against cvxpy with Clarabel."""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
import pytest

from tests.factories import encode, submit, wait_for
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration

TIGHT = {"tol": 1e-6}


def solve(stack: RealStack, problem: dict[str, Any], **options: Any) -> dict[str, Any]:
    with stack.stack.client(stack.keys[0]) as c:
        job = wait_for(c, submit(c, {"problem": problem, "options": options})["id"], timeout=120)
    assert job["status"] == "succeeded", job
    result: dict[str, Any] = job["result"]
    return result


def clarabel(objective: Any, constraints: list[Any], sense: str = "min") -> float:
    goal = cp.Minimize(objective) if sense == "min" else cp.Maximize(objective)
    problem = cp.Problem(goal, constraints)
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


def test_conic_lp_socp_with_sparse_a_and_residuals(stack: RealStack) -> None:
    rng = np.random.default_rng(0)
    n = 6
    # min c^T x  s.t.  x >= 0 (l), ||x[1:]|| <= x[0] (q), sum x = 1 (z).
    c = rng.standard_normal(n)
    A = np.vstack([np.ones((1, n)), -np.eye(n), -np.eye(n)])
    b = np.concatenate([[1.0], np.zeros(n), np.zeros(n)])
    rows, cols = np.nonzero(A)
    problem = {
        "kind": "conic",
        "A": {
            "shape": list(A.shape),
            "rows": rows.tolist(),
            "cols": cols.tolist(),
            "values": A[rows, cols].tolist(),
        },
        "b": encode(b),
        "c": encode(c),
        "cones": {"z": 1, "l": n, "q": [n]},
    }
    res = solve(stack, problem, **TIGHT)
    assert res["status"] == "converged"
    x, y, s = (np.asarray(res["solution"][k]) for k in ("x", "y", "s"))
    v = cp.Variable(n)
    ref = clarabel(c @ v, [cp.sum(v) == 1, v >= 0, cp.SOC(v[0], v[1:])])
    assert res["objective"] == pytest.approx(ref, rel=1e-4, abs=1e-6)
    assert np.abs(A @ x + s - b).max() <= 1e-5
    assert np.abs(A.T @ y + c).max() <= 1e-5


def test_infeasible_and_unbounded_lps_carry_certificates(stack: RealStack) -> None:
    # x <= -1 and x >= 0: infeasible.
    A = np.array([[1.0], [-1.0]])
    res = solve(
        stack,
        {"kind": "conic", "A": A.tolist(), "b": [-1.0, 0.0], "c": [1.0], "cones": {"l": 2}},
    )
    assert res["status"] == "infeasible"
    y = np.asarray(res["solution"]["y"])
    assert (y >= -1e-9).all()
    assert np.abs(A.T @ y).max() <= 1e-6 * abs(float(np.array([-1.0, 0.0]) @ y))
    assert float(np.array([-1.0, 0.0]) @ y) < 0
    # min -x s.t. x >= 0: unbounded.
    res = solve(stack, {"kind": "conic", "A": [[-1.0]], "b": [0.0], "c": [-1.0], "cones": {"l": 1}})
    assert res["status"] == "unbounded"
    x, s = np.asarray(res["solution"]["x"]), np.asarray(res["solution"]["s"])
    assert float(-x[0]) < 0 and (s >= -1e-9).all() and abs(-x[0] + s[0]) <= 1e-6 * abs(x[0])


@pytest.mark.parametrize("seed", [1, 2])
def test_experimental_design_matches_clarabel(stack: RealStack, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, p = 5, 10
    V = rng.standard_normal((n, p))
    res = solve(stack, {"kind": "experimental_design", "V": encode(V)}, **TIGHT)
    assert res["status"] == "converged"
    w = cp.Variable(p)
    ref = clarabel(cp.log_det(V @ cp.diag(w) @ V.T), [w >= 0, cp.sum(w) == 1], sense="max")
    assert res["objective"] == pytest.approx(ref, rel=1e-4)
    weights = np.asarray(res["solution"]["w"])
    assert weights.sum() == pytest.approx(1.0, abs=1e-5)
    mine = np.linalg.slogdet(V @ np.diag(np.clip(weights, 0, None)) @ V.T)[1]
    assert mine == pytest.approx(ref, rel=1e-4)


def test_robust_pca_max_cut_sdp_and_partitioning(stack: RealStack) -> None:
    rng = np.random.default_rng(3)
    M = rng.standard_normal((10, 2)) @ rng.standard_normal((2, 8))
    M[rng.random(M.shape) < 0.1] += 5
    lam = 1 / np.sqrt(10)
    res = solve(stack, {"kind": "robust_pca", "M": encode(M)}, **TIGHT)
    assert res["status"] == "converged"
    L, S = cp.Variable(M.shape), cp.Variable(M.shape)
    ref = clarabel(cp.normNuc(L) + lam * cp.sum(cp.abs(S)), [L + S == M])
    assert res["objective"] == pytest.approx(ref, rel=1e-4)

    W = rng.random((8, 8))
    W = (W + W.T) / 2 * (1 - np.eye(8))
    res = solve(stack, {"kind": "max_cut", "weights": encode(W)}, **TIGHT)
    assert res["status"] == "converged"
    Lap = np.diag(W.sum(1)) - W
    X = cp.Variable((8, 8), PSD=True)
    ref = clarabel(0.25 * cp.trace(Lap @ X), [cp.diag(X) == 1], sense="max")
    assert res["objective"] == pytest.approx(ref, rel=1e-4)
    signs = np.asarray(res["solution"]["partition"])
    cut = 0.25 * signs @ Lap @ signs
    assert res["solution"]["cut_value"] == pytest.approx(cut)
    assert 0.878 * ref - 1e-6 <= cut <= ref + 1e-6  # Goemans-Williamson on its best rounding

    C = rng.standard_normal((5, 5))
    C = C + C.T
    As = [np.eye(5)] + [(lambda B: B + B.T)(rng.standard_normal((5, 5))) for _ in range(2)]
    b = [1.0, 0.3, -0.2]
    res = solve(
        stack, {"kind": "sdp", "C": encode(C), "A": [encode(a) for a in As], "b": b}, **TIGHT
    )
    assert res["status"] == "converged"
    X = cp.Variable((5, 5), PSD=True)
    ref = clarabel(cp.trace(C @ X), [cp.trace(a @ X) == bi for a, bi in zip(As, b, strict=True)])
    assert res["objective"] == pytest.approx(ref, rel=1e-4, abs=1e-6)

    edges = [(i, (i + 1) % 8) for i in range(8)] + [(0, 4), (2, 6)]
    res = solve(stack, {"kind": "graph_partitioning", "n": 8, "edges": edges, "k": 2}, **TIGHT)
    assert res["status"] == "converged"
    Wg = np.zeros((8, 8))
    for u, v in edges:
        Wg[u, v] = Wg[v, u] = 1
    Lg = np.diag(Wg.sum(1)) - Wg
    d = cp.Variable(8)
    # Donath-Hoffman: (n / 2k) max_{1^T d = 0} sum of the k smallest eigenvalues of L + diag(d).
    ref = clarabel(-cp.lambda_sum_largest(-(Lg + cp.diag(d)), 2), [cp.sum(d) == 0], sense="max")
    assert res["objective"] == pytest.approx(8 / 4 * ref, rel=1e-4)


def test_malformed_cones_are_422(stack: RealStack) -> None:
    base = {"kind": "conic", "A": np.eye(4).tolist(), "b": [0.0] * 4, "c": [1.0] * 4}
    cases = [
        ({"cones": {"l": 3}}, ["cones"]),
        ({"cones": {"sl_n": [3], "sl_k": [3]}}, ["cones", "sl_k", 0]),
        ({"cones": {"nuc_m": [1], "nuc_n": [3]}}, ["cones", "nuc_m", 0]),
        ({"cones": {"l": 4}, "P": [[1, 2, 0, 0], [0, 1, 0, 0], [3, 0, 1, 0], [0, 0, 0, 1]]}, ["P"]),
    ]
    with stack.stack.client(stack.keys[0]) as c:
        for change, loc in cases:
            r = c.post("/v1/jobs", json={"problem": {**base, **change}})
            assert r.status_code == 422, r.text
            assert r.json()["fields"][0]["loc"] == ["body", "problem", *loc], r.json()
        r = c.post("/v1/jobs", json={"problem": {"kind": "max_cut", "weights": [[0, 1], [2, 0]]}})
        assert r.status_code == 422
        assert r.json()["fields"][0]["loc"] == ["body", "problem", "weights"]
