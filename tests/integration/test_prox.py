"""The proximal kinds over HTTP on the real stack, judged against cvxpy (Clarabel) and
scikit-learn, with certificates recomputed from the returned solutions."""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.factories import completion_problem, encode, submit, wait_for
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration


def solve(stack: RealStack, problem: dict[str, Any], **options: Any) -> dict[str, Any]:
    with stack.stack.client(stack.keys[0]) as c:
        job = wait_for(c, submit(c, {"problem": problem, "options": options})["id"], timeout=120)
        assert job["status"] == "succeeded", job
        trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
    result: dict[str, Any] = job["result"]
    result["trace"] = trace
    return result


def data(m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    w = np.zeros(n)
    w[: n // 4] = rng.standard_normal(n // 4)
    return A, A @ w + 0.1 * rng.standard_normal(m)


def clarabel(objective: Any, constraints: list[Any] | None = None) -> float:
    problem = cp.Problem(cp.Minimize(objective), constraints or [])
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


@pytest.mark.parametrize("seed", [0, 1])
def test_elastic_net_and_group_lasso_match_clarabel(stack: RealStack, seed: int) -> None:
    A, b = data(40, 30, seed)
    lam = 0.1 * float(np.abs(A.T @ b).max())
    res = solve(
        stack,
        {"kind": "elastic_net", "A": encode(A), "b": encode(b), "lam": lam, "l2": 0.5},
        tol=1e-10,
    )
    assert res["status"] == "converged"
    x = np.asarray(res["solution"]["x"])
    v = cp.Variable(30)
    ref = clarabel(0.5 * cp.sum_squares(A @ v - b) + lam * cp.norm1(v) + 0.25 * cp.sum_squares(v))
    mine = 0.5 * np.sum((A @ x - b) ** 2) + lam * np.abs(x).sum() + 0.25 * x @ x
    assert mine == pytest.approx(ref, rel=1e-6)
    assert res["objective"] == pytest.approx(mine, rel=1e-9)
    assert res["trace"] and "relative_gap" in res["trace"][-1]

    groups = np.repeat(np.arange(6), 5)
    res = solve(
        stack,
        {
            "kind": "group_lasso",
            "A": encode(A),
            "b": encode(b),
            "lam": lam,
            "groups": encode(groups),
        },
        tol=1e-10,
    )
    assert res["status"] == "converged"
    x = np.asarray(res["solution"]["x"])
    pen = sum(np.sqrt(5) * cp.norm(v[5 * g : 5 * g + 5], 2) for g in range(6))
    ref = clarabel(0.5 * cp.sum_squares(A @ v - b) + lam * pen)
    mine = 0.5 * np.sum((A @ x - b) ** 2) + lam * sum(
        np.sqrt(5) * np.linalg.norm(x[5 * g : 5 * g + 5]) for g in range(6)
    )
    assert mine == pytest.approx(ref, rel=1e-6)
    # The reported gap bounds the true suboptimality.
    assert mine - ref <= res["certificate"]["duality_gap"] + 1e-7 * abs(ref)


@pytest.mark.filterwarnings("ignore:.*penalty:FutureWarning", "ignore:.*penalty:UserWarning")
def test_sparse_logreg_matches_scikit_learn(stack: RealStack) -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((80, 20))
    y = np.sign(A @ rng.standard_normal(20) + 0.5 * rng.standard_normal(80))
    lam = 0.1 * float(np.abs(A.T @ y).max()) / 2
    res = solve(
        stack, {"kind": "sparse_logreg", "A": encode(A), "y": encode(y), "lam": lam}, tol=1e-10
    )
    assert res["status"] == "converged"
    x = np.asarray(res["solution"]["x"])
    clf = LogisticRegression(
        penalty="l1", C=1 / lam, solver="liblinear", fit_intercept=False, tol=1e-12, max_iter=10**5
    ).fit(A, y)

    def objective(w: np.ndarray) -> float:
        return float(np.logaddexp(0, -y * (A @ w)).sum() + lam * np.abs(w).sum())

    assert objective(x) == pytest.approx(objective(clf.coef_.ravel()), rel=1e-6)
    assert objective(x) <= objective(clf.coef_.ravel()) + 1e-8


def test_matrix_completion_tv_and_constrained_ls(stack: RealStack) -> None:
    rng = np.random.default_rng(4)
    m, n = 12, 10
    M = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    mask = rng.random((m, n)) < 0.5
    res = solve(stack, completion_problem(M, mask, 0.5), tol=1e-8)
    assert res["status"] == "converged"
    X = np.asarray(res["solution"]["X"])
    V = cp.Variable((m, n))
    ref = clarabel(0.5 * cp.sum_squares(cp.multiply(mask, V - M)) + 0.5 * cp.normNuc(V))
    mine = 0.5 * np.sum((X - M)[mask] ** 2) + 0.5 * np.linalg.svd(X, compute_uv=False).sum()
    assert mine == pytest.approx(ref, rel=1e-5)

    y = np.cumsum(rng.standard_normal((16, 16)), axis=0)
    res = solve(stack, {"kind": "tv_denoise", "y": encode(y), "lam": 0.7, "variant": "isotropic"})
    assert res["status"] == "converged"
    x = np.asarray(res["solution"]["x"])
    U = cp.Variable(y.shape)
    dx = U[1:, :-1] - U[:-1, :-1]
    dy = U[:-1, 1:] - U[:-1, :-1]
    # Forward differences with Neumann boundary: the last row/column add one-sided terms.
    tv = cp.sum(cp.norm(cp.vstack([cp.vec(dx, order="F"), cp.vec(dy, order="F")]), 2, axis=0))
    tv += cp.norm1(U[-1, 1:] - U[-1, :-1]) + cp.norm1(U[1:, -1] - U[:-1, -1])
    ref = clarabel(0.5 * cp.sum_squares(U - y) + 0.7 * tv)
    gx = np.diff(x, axis=0, append=x[-1:, :])
    gy = np.diff(x, axis=1, append=x[:, -1:])
    mine = 0.5 * np.sum((x - y) ** 2) + 0.7 * np.sqrt(gx**2 + gy**2).sum()
    assert mine == pytest.approx(ref, rel=1e-5)

    A, b = data(30, 12, 5)
    for constraint, cons in (
        ({"type": "simplex", "radius": 1.0}, lambda v: [v >= 0, cp.sum(v) == 1]),
        ({"type": "l1_ball", "radius": 0.5}, lambda v: [cp.norm1(v) <= 0.5]),
        ({"type": "box", "lower": -0.1, "upper": 0.2}, lambda v: [v >= -0.1, v <= 0.2]),
    ):
        res = solve(
            stack,
            {
                "kind": "constrained_least_squares",
                "A": encode(A),
                "b": encode(b),
                "constraint": constraint,
            },
            tol=1e-9,
        )
        assert res["status"] == "converged", res
        x = np.asarray(res["solution"]["x"])
        v = cp.Variable(12)
        ref = clarabel(0.5 * cp.sum_squares(A @ v - b), cons(v))
        assert 0.5 * np.sum((A @ x - b) ** 2) == pytest.approx(ref, rel=1e-6), constraint
        assert "frank_wolfe_gap" in res["certificate"]


@pytest.mark.parametrize("algorithm", ["fista", "admm", "pdhg", "cd"])
def test_composite_algorithms_agree(stack: RealStack, algorithm: str) -> None:
    A, b = data(40, 25, 6)
    lam = 0.2 * float(np.abs(A.T @ b).max())
    res = solve(
        stack,
        {
            "kind": "composite",
            "A": encode(A),
            "b": encode(b),
            "loss": "least_squares",
            "penalty": {"name": "elastic_net", "lam": lam, "l2": 1.0},
            "algorithm": algorithm,
        },
        tol=1e-8,
    )
    assert res["status"] == "converged", res
    x = np.asarray(res["solution"]["x"])
    v = cp.Variable(25)
    ref = clarabel(0.5 * cp.sum_squares(A @ v - b) + lam * cp.norm1(v) + 0.5 * cp.sum_squares(v))
    mine = 0.5 * np.sum((A @ x - b) ** 2) + lam * np.abs(x).sum() + 0.5 * x @ x
    assert mine == pytest.approx(ref, rel=1e-6)


def test_composite_huber_with_group_penalty(stack: RealStack) -> None:
    A, b = data(40, 20, 7)
    b[:3] += 20  # outliers: what the Huber loss is for
    groups = np.repeat(np.arange(4), 5)
    res = solve(
        stack,
        {
            "kind": "composite",
            "A": encode(A),
            "b": encode(b),
            "loss": "huber",
            "delta": 1.0,
            "penalty": {"name": "group_l1", "lam": 2.0, "groups": groups.tolist()},
        },
        tol=1e-8,
    )
    assert res["status"] == "converged", res
    x = np.asarray(res["solution"]["x"])
    v = cp.Variable(20)
    pen = sum(np.sqrt(5) * cp.norm(v[5 * g : 5 * g + 5], 2) for g in range(4))
    ref = clarabel(cp.sum(cp.huber(A @ v - b, 1.0)) / 2 + 2.0 * pen)
    r = A @ x - b
    hub = np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5).sum()
    mine = hub + 2.0 * sum(np.sqrt(5) * np.linalg.norm(x[5 * g : 5 * g + 5]) for g in range(4))
    assert mine == pytest.approx(ref, rel=1e-5)


def test_prox_bad_inputs_are_422(stack: RealStack) -> None:
    A, b = data(10, 6, 8)
    bad = [
        ({"kind": "sparse_logreg", "A": A.tolist(), "y": [0.0] * 10, "lam": 1}, ["y"]),
        (
            {"kind": "group_lasso", "A": A.tolist(), "b": b.tolist(), "lam": 1, "groups": [0, 1]},
            ["groups"],
        ),
        (
            {
                "kind": "constrained_least_squares",
                "A": A.tolist(),
                "b": b.tolist(),
                "constraint": {"type": "l1_ball", "radius": -2},
            },
            ["constraint", "radius"],
        ),
    ]
    with stack.stack.client(stack.keys[0]) as c:
        for problem, loc in bad:
            r = c.post("/v1/jobs", json={"problem": problem})
            assert r.status_code == 422, r.text
            assert r.json()["fields"][0]["loc"] == ["body", "problem", *loc]
