"""The `ot` kind over HTTP on the real stack, judged against POT."""

from __future__ import annotations

import numpy as np
import ot
import pytest

from tests.factories import encode, submit, wait_for
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration


def instance(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), x, y


def entropic(P: np.ndarray, C: np.ndarray, eps: float) -> float:
    nz = P[P > 0]
    return float((P * C).sum() + eps * (nz * (np.log(nz) - 1)).sum())


def test_sinkhorn_matches_pot_and_certificate_is_honest(stack: RealStack) -> None:
    a, b, x, y = instance(40, 50, seed=1)
    C = ot.dist(x, y)
    eps = 0.05
    body = {
        "problem": {
            "kind": "ot",
            "a": encode(a),
            "b": encode(b),
            "cost": encode(C),
            "epsilon": eps,
            "method": "sinkhorn",
        },
        "options": {"tol": 1e-11},
    }
    with stack.stack.client(stack.keys[0]) as c:
        done = wait_for(c, submit(c, body)["id"])
    assert done["status"] == "succeeded", done
    res = done["result"]
    assert res["status"] == "converged"
    P = np.asarray(res["solution"]["plan"])
    reference = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-14, numItermax=100_000)
    assert res["objective"] == pytest.approx(entropic(reference, C, eps), rel=1e-8)
    np.testing.assert_allclose(P, reference, atol=1e-9)
    recomputed = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
    assert res["certificate"]["marginal_error_l1"] <= 1e-11
    assert res["certificate"]["marginal_error_l1"] == pytest.approx(recomputed, abs=1e-13)
    assert res["solution"]["transport_cost"] == pytest.approx(float((P * C).sum()), rel=1e-10)


def test_sns_point_clouds_sparse_plan_and_trace(stack: RealStack) -> None:
    a, b, x, y = instance(150, 120, seed=2)
    body = {
        "problem": {
            "kind": "ot",
            "a": a.tolist(),
            "b": b.tolist(),
            "x": x.tolist(),
            "y": y.tolist(),
            "metric": "sqeuclidean",
            "cost_scale": "max",
            "epsilon": 2e-3,
            "method": "sns",
            "plan_format": "sparse",
            "plan_threshold": 1e-12,
        },
        "options": {"tol": 1e-8, "trace_every": 1},
    }
    with stack.stack.client(stack.keys[0]) as c:
        job = submit(c, body)
        done = wait_for(c, job["id"], timeout=120)
        trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
    assert done["status"] == "succeeded", done
    res = done["result"]
    assert res["status"] == "converged"
    assert res["certificate"]["marginal_error_l1"] <= 1e-8
    plan = res["solution"]["plan"]
    assert plan["shape"] == [150, 120]
    assert len(plan["rows"]) == len(plan["cols"]) == len(plan["values"])
    assert plan["mass_fraction"] > 0.999999
    assert {"marginal_error_l1", "stage"} <= set(trace[-1])
    assert {p["stage"] for p in trace} >= {"newton"}


def test_exact_matches_emd(stack: RealStack) -> None:
    a, b, x, y = instance(60, 45, seed=3)
    C = ot.dist(x, y, metric="euclidean")
    body = {
        "problem": {
            "kind": "ot",
            "a": a.tolist(),
            "b": b.tolist(),
            "x": x.tolist(),
            "y": y.tolist(),
            "metric": "euclidean",
            "method": "exact",
        },
        "options": {"array_format": "base64"},
    }
    with stack.stack.client(stack.keys[0]) as c:
        done = wait_for(c, submit(c, body)["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["objective"] == pytest.approx(ot.emd2(a, b, C), rel=1e-9, abs=1e-12)
    assert done["result"]["solution"]["plan"]["shape"] == [60, 45]


@pytest.mark.parametrize(
    ("change", "loc", "fragment"),
    [
        ({"b": [0.3, 0.3, 0.3]}, ["body", "problem", "b"], "a sums to 1, b sums to 0.9"),
        ({"a": [1.2, -0.2]}, ["body", "problem", "a"], "non-negative"),
        ({"cost": [[0, 1, 1], [1, 0]]}, ["body", "problem", "cost"], "ragged"),
        ({"cost": [[0, 1], [1, 0]]}, ["body", "problem", "cost"], "shape [2, 2]"),
        ({"epsilon": -1}, ["body", "problem", "epsilon"], "greater than 0"),
        ({"epsilon": 0}, ["body", "problem", "epsilon"], "greater than 0"),
    ],
)
def test_bad_ot_input_is_422_with_the_field(
    stack: RealStack, change: dict, loc: list, fragment: str
) -> None:
    good = {
        "kind": "ot",
        "a": [0.5, 0.5],
        "b": [0.2, 0.3, 0.5],
        "cost": [[0, 1, 2], [2, 1, 0]],
        "epsilon": 0.1,
    }
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", json={"problem": {**good, **change}})
    assert r.status_code == 422, r.text
    fields = r.json()["fields"]
    assert any(f["loc"] == loc and fragment in f["msg"] for f in fields), fields


def test_nan_cost_is_422(stack: RealStack) -> None:
    raw = (
        b'{"problem": {"kind": "ot", "a": [0.5, 0.5], "b": [0.5, 0.5], '
        b'"cost": [[0, NaN], [1, 0]], "epsilon": 0.1}}'
    )
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert ["body", "problem", "cost"] in [f["loc"] for f in r.json()["fields"]]


def test_unbalanced_scaling_normalize_and_no_plan(stack: RealStack) -> None:
    a, b, x, y = instance(30, 25, seed=4)
    common = {"kind": "ot", "x": x.tolist(), "y": y.tolist(), "epsilon": 0.05}
    bodies = {
        "unbalanced": {
            **common,
            "a": (2 * a).tolist(),
            "b": b.tolist(),
            "unbalanced": {"tau_a": 1.0, "tau_b": 1.0},
        },
        "scaling": {
            **common,
            "a": a.tolist(),
            "b": b.tolist(),
            "method": "sinkhorn",
            "epsilon_scaling": True,
            "metric": "cityblock",
            "cost_scale": "median",
        },
        "normalize": {
            **common,
            "a": (3 * a).tolist(),
            "b": (5 * b).tolist(),
            "normalize": True,
            "plan_format": "none",
        },
    }
    with stack.stack.client(stack.keys[0]) as c:
        ids = {name: submit(c, {"problem": p})["id"] for name, p in bodies.items()}
        done = {name: wait_for(c, i) for name, i in ids.items()}
    for name, job in done.items():
        assert job["status"] == "succeeded", (name, job)
        assert job["result"]["status"] == "converged", (name, job["result"]["message"])
    unbalanced = np.asarray(done["unbalanced"]["result"]["solution"]["plan"])
    C = ot.dist(x, y)
    reference = ot.unbalanced.sinkhorn_unbalanced(
        2 * a,
        b,
        C,
        0.05,
        1.0,
        method="sinkhorn",
        reg_type="entropy",
        stopThr=1e-13,
        numItermax=100_000,
    )
    np.testing.assert_allclose(unbalanced, reference, atol=1e-7)
    scaling = done["scaling"]["result"]["solution"]
    assert scaling["cost_scale_factor"] == pytest.approx(
        float(np.median(ot.dist(x, y, metric="cityblock"))), rel=1e-12
    )
    assert "plan" not in done["normalize"]["result"]["solution"]
    assert done["normalize"]["result"]["certificate"]["marginal_error_l1"] <= 1e-8
