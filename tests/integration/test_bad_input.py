"""Bad input answers 4xx with the field path and the reason, never 500, and creates no job."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.factories import lasso_job
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration

GOOD = {
    "kind": "lasso",
    "A": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
    "b": [1.0, 2.0, 3.0],
    "lam": 0.1,
}


def problem(**changes: object) -> dict:
    return {"problem": {**GOOD, **changes}}


def b64(values: list[float], shape: list[int]) -> dict:
    raw = np.asarray(values, dtype="<f8").tobytes()
    return {"dtype": "float64", "shape": shape, "base64": base64.b64encode(raw).decode()}


CASES = [
    # (name, body, status, error, location that must appear)
    ("b too short", problem(b=[1.0, 2.0]), 422, "InvalidSpec", ["body", "problem", "b"]),
    ("A is 1-D", problem(A=[1.0, 2.0, 3.0]), 422, "InvalidSpec", ["body", "problem", "A"]),
    ("ragged A", problem(A=[[1.0, 2.0], [3.0]]), 422, "InvalidSpec", ["body", "problem", "A"]),
    (
        "string in A",
        problem(A=[[1.0, "x"], [3.0, 4.0]]),
        422,
        "InvalidSpec",
        ["body", "problem", "A"],
    ),
    ("negative lam", problem(lam=-1.0), 422, "InvalidSpec", ["body", "problem", "lam"]),
    ("lam as string", problem(lam="big"), 422, "InvalidSpec", ["body", "problem", "lam"]),
    ("unknown field", problem(extra=1), 422, "InvalidSpec", ["body", "problem", "extra"]),
    ("unknown kind", {"problem": {"kind": "sudoku"}}, 422, "InvalidSpec", ["body", "problem"]),
    ("kind not a string", problem(kind={}), 422, "InvalidSpec", ["body", "problem"]),
    ("no problem", {"options": {}}, 422, "InvalidSpec", ["body", "problem"]),
    ("empty A", problem(A=[[]], b=[1.0]), 422, "InvalidSpec", ["body", "problem", "A"]),
    (
        "NaN via base64",
        problem(b=b64([1.0, float("nan"), 3.0], [3])),
        422,
        "InvalidSpec",
        ["body", "problem", "b"],
    ),
    (
        "Inf via base64",
        problem(A=b64([1, 2, 3, float("inf"), 5, 6], [3, 2])),
        422,
        "InvalidSpec",
        ["body", "problem", "A"],
    ),
    (
        "base64 shape mismatch",
        problem(b=b64([1.0, 2.0], [3])),
        422,
        "InvalidSpec",
        ["body", "problem", "b"],
    ),
    (
        "base64 not base64",
        problem(b={"dtype": "float64", "shape": [3], "base64": "%%%"}),
        422,
        "InvalidSpec",
        ["body", "problem", "b"],
    ),
    (
        "bad dtype",
        problem(b={"dtype": "complex128", "shape": [3], "base64": ""}),
        422,
        "InvalidSpec",
        ["body", "problem", "b", "dtype"],
    ),
    (
        "tol >= 1",
        {**problem(), "options": {"tol": 5}},
        422,
        "InvalidSpec",
        ["body", "options", "tol"],
    ),
    (
        "max_iter 0",
        {**problem(), "options": {"max_iter": 0}},
        422,
        "InvalidSpec",
        ["body", "options", "max_iter"],
    ),
    (
        "bad option",
        {**problem(), "options": {"speed": "fast"}},
        422,
        "InvalidSpec",
        ["body", "options", "speed"],
    ),
    ("bad device", {**problem(), "device": "tpu"}, 422, "InvalidSpec", ["body", "device"]),
    (
        "gpu without gpu worker",
        {**problem(), "device": "gpu"},
        409,
        "NoGpuWorker",
        ["body", "device"],
    ),
    (
        "array_format",
        {**problem(), "options": {"array_format": "xml"}},
        422,
        "InvalidSpec",
        ["body", "options", "array_format"],
    ),
    ("top-level unknown", {**problem(), "priority": 1}, 422, "InvalidSpec", ["body", "priority"]),
    ("body is a list", [1, 2], 422, "InvalidSpec", ["body"]),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "error", "loc"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_body(
    stack: RealStack, name: str, body: object, status: int, error: str, loc: list
) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        before = len(c.get("/v1/jobs", params={"limit": 500}).json()["items"])
        r = c.post("/v1/jobs", json=body)
        assert r.status_code == status, r.text
        payload = r.json()
        assert payload["error"] == error
        assert payload["detail"]
        locs = [f["loc"] for f in payload["fields"]]
        assert any(got[: len(loc)] == loc for got in locs), locs
        assert all(f["msg"] for f in payload["fields"])
        assert len(c.get("/v1/jobs", params={"limit": 500}).json()["items"]) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"problem": ',
        b"",
        b"\xff\xfe",
        b'{"problem": {"kind": "lasso", "A": [[1, NaN]], "b": [1], "lam": 1}}',
    ],
    ids=["garbage", "truncated", "empty", "not utf-8", "NaN literal"],
)
def test_malformed_json(stack: RealStack, raw: bytes) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), r.text
        assert r.json()["error"] in ("MalformedJSON", "InvalidSpec")
        assert r.json()["fields"] and r.json()["fields"][0]["loc"][0] == "body"


def test_nan_literal_names_the_field(stack: RealStack) -> None:
    raw = b'{"problem": {"kind": "lasso", "A": [[1, NaN]], "b": [1], "lam": 1}}'
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert ["body", "problem", "A"] in [f["loc"] for f in r.json()["fields"]]


def test_oversized_body_and_problem(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        big = lasso_job(1200, 500, base64_arrays=True)  # 600k elements, ~6.4 MB > 4 MB body limit
        r = c.post("/v1/jobs", json=big)
        assert r.status_code == 413 and r.json()["error"] == "PayloadTooLarge"
        many = lasso_job(500, 401, base64_arrays=True)  # 200.9k elements > 200k, body < 4 MB
        r = c.post("/v1/jobs", json=many)
        assert r.status_code == 413, r.text
        assert ["body", "problem"] in [f["loc"] for f in r.json()["fields"]]


def test_unknown_job_and_routes(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        assert c.get("/v1/jobs/not-a-job").status_code == 404
        assert c.get("/v1/jobs/00000000-0000-0000-0000-000000000000/trace").status_code == 404
        assert c.get("/v1/jobs/x/trace", params={"after": "y"}).status_code == 422
        r = c.get("/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
        r = c.delete("/v1/jobs")
        assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"
