"""Jobs over HTTP on the real stack: submit, poll, trace, events, list, idempotency, tenants."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from tests.factories import lasso_data, lasso_job, long_job, submit, wait_for
from tests.integration.conftest import RealStack
from workers.solvers.lasso import solve_lasso

pytestmark = pytest.mark.integration


def lasso_objective(d: dict, x: np.ndarray) -> float:
    r = d["A"] @ x - d["b"]
    return 0.5 * float(r @ r) + d["lam"] * float(np.abs(x).sum())


def test_submit_poll_result_and_trace(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", json=lasso_job(40, 15, seed=1, tol=1e-9, trace_every=1))
        assert r.status_code == 202
        job = r.json()
        assert r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["status"] == "queued" and job["kind"] == "lasso"
        done = wait_for(c, job["id"])
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["status"] == "converged"
        assert result["certificate"]["relative_gap"] <= 1e-9
        assert done["started_at"] and done["finished_at"] and done["attempts"] == 1

        # The objective the service reports is the one recomputed from its returned x.
        d = lasso_data(40, 15, seed=1)
        x = np.asarray(result["solution"]["x"])
        assert result["objective"] == pytest.approx(lasso_objective(d, x), rel=1e-12)
        reference = solve_lasso(d["A"], d["b"], d["lam"], tol=1e-12)
        assert result["objective"] == pytest.approx(reference.objective, rel=1e-8)

        trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
        assert [p["iteration"] for p in trace] == sorted(p["iteration"] for p in trace)
        assert trace[-1]["iteration"] == result["iterations"]
        assert {"iteration", "elapsed_s", "objective", "duality_gap"} <= set(trace[0])
        # The first point is the starting iterate (0) or the first iteration, by solver.
        assert len(trace) >= 2 and trace[0]["iteration"] in (0, 1)
        mid = len(trace) // 2
        later = c.get(f"/v1/jobs/{job['id']}/trace", params={"after": trace[mid]["iteration"]})
        assert later.json() == trace[mid + 1 :]


def test_base64_in_and_out(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        body = lasso_job(25, 8, seed=2, base64_arrays=True, array_format="base64")
        done = wait_for(c, submit(c, body)["id"])
        x = done["result"]["solution"]["x"]
        assert x["dtype"] == "float64" and x["shape"] == [8]
        list_done = wait_for(c, submit(c, lasso_job(25, 8, seed=2))["id"])
        import base64

        decoded = np.frombuffer(base64.b64decode(x["base64"]), dtype="<f8")
        assert np.allclose(decoded, list_done["result"]["solution"]["x"], rtol=1e-6, atol=1e-9)


def test_progress_and_trace_while_running_then_events(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        job = submit(c, long_job(2.5))
        running = wait_for(c, job["id"], {"running"} | {"succeeded", "failed"})
        assert running["status"] == "running"
        deadline = time.monotonic() + 5
        trace: list = []
        while not trace and time.monotonic() < deadline:
            trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
            time.sleep(0.1)
        assert trace, "trace points must be readable while the job runs"
        assert c.get(f"/v1/jobs/{job['id']}").json()["progress"] is not None

        events = []
        with c.stream("GET", f"/v1/jobs/{job['id']}/events", timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    events.append(name)
                    if name == "done":
                        break
        assert "progress" in events and events[-1] == "done"
        final = c.get(f"/v1/jobs/{job['id']}").json()
        assert final["status"] == "succeeded"
        assert final["result"]["status"] == "time_limit"
        assert final["result"]["certificate"]["duality_gap"] is not None


def test_cancel_running_keeps_trace(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        job = submit(c, long_job(30, seed=3))
        wait_for(c, job["id"], {"running"})
        time.sleep(0.5)
        t0 = time.monotonic()
        r = c.post(f"/v1/jobs/{job['id']}/cancel")
        assert r.status_code == 200
        done = wait_for(c, job["id"], timeout=10)
        assert done["status"] == "cancelled"
        assert time.monotonic() - t0 < 2.0, "a running job must stop within about a second"
        assert done["result"]["status"] == "cancelled"
        assert c.get(f"/v1/jobs/{job['id']}/trace").json(), "the trace survives cancellation"
        assert c.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200  # idempotent


def test_cancel_queued_is_immediate_and_never_runs(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        blockers = [submit(c, long_job(3, seed=s)) for s in (10, 11)]
        for b in blockers:
            wait_for(c, b["id"], {"running"})
        queued = submit(c, lasso_job(seed=12))
        r = c.post(f"/v1/jobs/{queued['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        for b in blockers:
            assert wait_for(c, b["id"])["status"] == "succeeded"
        time.sleep(1.0)
        after = c.get(f"/v1/jobs/{queued['id']}").json()
        assert after["status"] == "cancelled" and after["attempts"] == 0
        finished = wait_for(c, submit(c, lasso_job(seed=13))["id"])
        assert c.post(f"/v1/jobs/{finished['id']}/cancel").status_code == 409


def test_list_paginates_newest_first_and_filters(stack: RealStack) -> None:
    key = stack.stack.create_key("pagination")
    with stack.stack.client(key) as c:
        ids = [submit(c, lasso_job(seed=s))["id"] for s in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/v1/jobs", params=params).json()
            seen += [j["id"] for j in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]
        for i in ids:
            wait_for(c, i)
        assert len(c.get("/v1/jobs", params={"status": "succeeded"}).json()["items"]) == 5
        assert c.get("/v1/jobs", params={"kind": "nothing"}).json()["items"] == []
        assert c.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
        assert c.get("/v1/jobs", params={"cursor": "garbage!"}).status_code == 422


def test_idempotency_key(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        key = f"idem-{time.time_ns()}"
        first = c.post("/v1/jobs", json=lasso_job(seed=20), headers={"Idempotency-Key": key})
        again = c.post("/v1/jobs", json=lasso_job(seed=20), headers={"Idempotency-Key": key})
        assert first.status_code == 202 and again.status_code == 202
        assert first.json()["id"] == again.json()["id"]
        other = c.post("/v1/jobs", json=lasso_job(seed=21), headers={"Idempotency-Key": key})
        assert other.status_code == 409
        assert other.json()["error"] == "IdempotencyConflict"
    with stack.stack.client(stack.keys[1]) as c:  # keys are per tenant
        mine = c.post("/v1/jobs", json=lasso_job(seed=21), headers={"Idempotency-Key": key})
        assert mine.status_code == 202 and mine.json()["id"] != first.json()["id"]


def test_tenants_are_isolated_and_auth_required(stack: RealStack) -> None:
    s = stack.stack
    with s.client(stack.keys[0]) as a, s.client(stack.keys[1]) as b:
        job = submit(a, lasso_job(seed=30))
        for response in (
            b.get(f"/v1/jobs/{job['id']}"),
            b.get(f"/v1/jobs/{job['id']}/trace"),
            b.post(f"/v1/jobs/{job['id']}/cancel"),
            b.get(f"/v1/jobs/{job['id']}/events"),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == "NotFound"
        assert job["id"] not in [j["id"] for j in b.get("/v1/jobs").json()["items"]]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = httpx.get(s.base_url + "/v1/jobs", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"


def test_health_ready_solvers_docs(stack: RealStack) -> None:
    s = stack.stack
    assert httpx.get(s.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(s.base_url + "/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["broker"]["ok"]
    solvers = httpx.get(s.base_url + "/v1/solvers").json()["solvers"]
    lasso = next(k for k in solvers if k["kind"] == "lasso")
    assert set(lasso["schema"]["properties"]) >= {"kind", "A", "b", "lam"}
    assert lasso["options"]["defaults"]["tol"] > 0
    spec = httpx.get(s.base_url + "/openapi.json").json()
    assert "JobCreate" in spec["components"]["schemas"]
    assert "/v1/jobs/{job_id}/trace" in spec["paths"]
    assert httpx.get(s.base_url + "/docs").status_code == 200
