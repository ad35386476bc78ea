"""Small factories of request bodies and polling helpers shared by the service tests."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import numpy as np

FINISHED = {"succeeded", "failed", "cancelled"}


def encode(a: np.ndarray) -> dict[str, Any]:
    arr = np.ascontiguousarray(a, dtype="<f8")
    return {"dtype": "float64", "shape": list(arr.shape), "base64": base64.b64encode(arr).decode()}


def lasso_data(m: int = 30, n: int = 10, seed: int = 0, lam_frac: float = 0.1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x = np.zeros(n)
    x[: max(1, n // 5)] = rng.standard_normal(max(1, n // 5))
    b = A @ x + 0.1 * rng.standard_normal(m)
    lam = lam_frac * float(np.abs(A.T @ b).max())
    return {"A": A, "b": b, "lam": lam}


def completion_problem(M: np.ndarray, mask: np.ndarray, lam: float) -> dict[str, Any]:
    """A ``matrix_completion`` problem observing ``M`` where ``mask`` is set."""
    rows, cols = np.nonzero(mask)
    return {
        "kind": "matrix_completion",
        "shape": list(M.shape),
        "rows": rows.tolist(),
        "cols": cols.tolist(),
        "values": M[mask].tolist(),
        "lam": lam,
    }


def lasso_job(
    m: int = 30,
    n: int = 10,
    seed: int = 0,
    lam_frac: float = 0.1,
    *,
    base64_arrays: bool = False,
    **options: Any,
) -> dict[str, Any]:
    d = lasso_data(m, n, seed, lam_frac)
    pack = encode if base64_arrays else (lambda a: a.tolist())
    body: dict[str, Any] = {
        "problem": {"kind": "lasso", "A": pack(d["A"]), "b": pack(d["b"]), "lam": d["lam"]},
    }
    if options:
        body["options"] = options
    return body


def long_job(seconds: float, seed: int = 0) -> dict[str, Any]:
    """A lasso that cannot meet its tolerance and so runs until its time limit."""
    return lasso_job(
        200,
        400,
        seed,
        1e-6,
        base64_arrays=True,
        tol=1e-15,
        max_iter=100_000_000,
        time_limit_s=seconds,
        trace_every=5,
    )


def wait_for(
    client: httpx.Client,
    job_id: str,
    statuses: set[str] = FINISHED,
    timeout: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {job.get('status')} after {timeout} s: {job}")


def submit(client: httpx.Client, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = client.post("/v1/jobs", json=body, headers=headers)
    assert r.status_code == 202, r.text
    return dict(r.json())
