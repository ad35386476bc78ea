"""Ask/tell studies over HTTP on the real stack (PostgreSQL, Redis, two Celery workers)."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import long_job, submit, wait_for
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN_MIN = 0.397887357729739

SPACE = [
    {"name": "x1", "type": "float", "low": -5, "high": 10},
    {"name": "x2", "type": "float", "low": 0, "high": 15},
]


def create(c: httpx.Client, **body: Any) -> dict[str, Any]:
    r = c.post("/v1/studies", json={"name": "t", "space": SPACE, "seed": 3, **body})
    assert r.status_code == 201, r.text
    return r.json()


def ask(c: httpx.Client, study_id: str, count: int = 1) -> list[dict[str, Any]]:
    r = c.post(f"/v1/studies/{study_id}/suggestions", json={"count": count})
    assert r.status_code == 201, r.text
    trials: list[dict[str, Any]] = r.json()["trials"]
    assert len(trials) == count
    return trials


def tell(c: httpx.Client, study_id: str, trial: dict[str, Any], value: float, **extra: Any) -> None:
    r = c.post(
        f"/v1/studies/{study_id}/trials/{trial['id']}/observation", json={"value": value, **extra}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "complete"


def key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(params.items()))


def test_branin_study_end_to_end(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        study = create(c)
        sid = study["id"]
        seen: set[tuple[Any, ...]] = set()
        for _ in range(25):
            (trial,) = ask(c, sid)
            p = trial["params"]
            assert -5 <= p["x1"] <= 10 and 0 <= p["x2"] <= 15
            assert key(p) not in seen
            seen.add(key(p))
            tell(c, sid, trial, branin(p["x1"], p["x2"]))
        got = c.get(f"/v1/studies/{sid}").json()
        assert got["counts"] == {
            "pending": 0,
            "complete": 25,
            "failed": 0,
            "expired": 0,
            "total": 25,
        }
        assert len(got["trace"]) == 25
        values = [t["best_value"] for t in got["trace"]]
        assert all(b <= a for a, b in zip(values, values[1:], strict=False))
        assert got["best"]["based_on"] == "observed_value"
        assert got["best"]["value"] == values[-1]
        # The model is learning: Sobol random search leaves a median regret of about 2.5 after
        # 30 evaluations (benchmarks/RESULTS.md); the seeded regret target (< 1e-2 at 30) is
        # checked by test_bayesopt_benchmark_job_on_branin.
        assert got["best"]["value"] - BRANIN_MIN < 0.3, got["best"]
        page = c.get(f"/v1/studies/{sid}/trials", params={"limit": 10}).json()
        assert [t["number"] for t in page["items"]] == list(range(1, 11))
        rest = c.get(
            f"/v1/studies/{sid}/trials", params={"limit": 100, "cursor": page["next_cursor"]}
        ).json()
        assert len(rest["items"]) == 15 and rest["next_cursor"] is None


def test_concurrent_asks_never_hand_out_the_same_point(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        sid = create(c, initial_design={"size": 3, "kind": "sobol"})["id"]
        for trial in ask(c, sid, 3):
            tell(c, sid, trial, branin(trial["params"]["x1"], trial["params"]["x2"]))
        with ThreadPoolExecutor(6) as pool:
            batches = list(pool.map(lambda _: ask(c, sid, 2), range(6)))
        points = [key(t["params"]) for batch in batches for t in batch]
        ids = [t["id"] for batch in batches for t in batch]
        assert len(set(points)) == len(points) == 12
        assert len(set(ids)) == 12
        got = c.get(f"/v1/studies/{sid}").json()
        assert got["counts"]["pending"] == 12 and got["counts"]["total"] == 15


def test_study_errors_are_field_level(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        sid = create(c, constraints=[{"name": "c1", "upper": 0.0}])["id"]
        (trial,) = ask(c, sid)
        url = f"/v1/studies/{sid}/trials/{trial['id']}/observation"

        r = c.post(url, content=b'{"value": NaN}', headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), r.text
        r = c.post(url, json={"value": "nan", "constraints": {"c1": 0.0}})
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == ["body", "value"]
        r = c.post(url, json={"value": 1.0, "constraints": {"c2": 0.5}})
        assert r.status_code == 422
        locs = [f["loc"] for f in r.json()["fields"]]
        assert ["body", "constraints", "c2"] in locs and ["body", "constraints", "c1"] in locs
        r = c.post(f"/v1/studies/{sid}/trials/nope/observation", json={"value": 1.0})
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
        r = c.post("/v1/studies/nope/suggestions", json={"count": 1})
        assert r.status_code == 404

        # The tell goes through once; a retry with the same body is a no-op, another value 409.
        tell(c, sid, trial, 1.5, constraints={"c1": -1.0})
        tell(c, sid, trial, 1.5, constraints={"c1": -1.0})
        r = c.post(url, json={"value": 2.0, "constraints": {"c1": -1.0}})
        assert r.status_code == 409 and r.json()["error"] == "TrialFinished"

        r = c.post(
            "/v1/studies", json={"name": "x", "space": [{"name": "c", "type": "categorical"}]}
        )
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == [
            "body",
            "space",
            0,
            "choices",
        ]
        r = c.post("/v1/studies", json={"name": "x", "space": [{**SPACE[0], "low": 20}]})
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == ["body", "space", 0, "high"]
        r = c.post("/v1/studies", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "MalformedJSON"

        cat = create(c, space=[{"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]}])
        r = c.post(f"/v1/studies/{cat['id']}/trials", json={"params": {"opt": "rmsprop"}})
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == ["body", "params", "opt"]
        r = c.post(f"/v1/studies/{cat['id']}/trials", json={"params": {"opt": "sgd"}, "value": 3})
        assert r.status_code == 201 and r.json()["state"] == "complete"
        r = c.get(f"/v1/studies/{sid}/trials", params={"cursor": "9" * 32})
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == ["query", "cursor"]
        r = c.post(f"/v1/studies/{sid}/trials", json={"params": {"x1": 10**400, "x2": 1.0}})
        assert r.status_code == 422 and r.json()["fields"][0]["loc"] == ["body", "params", "x1"]

        # Another tenant sees nothing.
    with stack.stack.client(stack.keys[1]) as other:
        assert other.get(f"/v1/studies/{sid}").status_code == 404


def test_fail_user_trials_and_archive(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        sid = create(c)["id"]
        (trial,) = ask(c, sid)
        r = c.post(f"/v1/studies/{sid}/trials/{trial['id']}/fail")
        assert r.status_code == 200 and r.json()["state"] == "failed"
        r = c.post(f"/v1/studies/{sid}/trials/{trial['id']}/observation", json={"value": 1.0})
        assert r.status_code == 409
        r = c.post(f"/v1/studies/{sid}/trials", json={"params": {"x1": 1.0, "x2": 2.0}, "value": 7})
        assert r.status_code == 201
        user = r.json()
        assert user["source"] == "user" and user["number"] == 2
        (nxt,) = ask(c, sid)
        assert key(nxt["params"]) not in {key(trial["params"]), key(user["params"])}
        r = c.delete(f"/v1/studies/{sid}")
        assert r.status_code == 200 and r.json()["state"] == "archived"
        r = c.post(f"/v1/studies/{sid}/suggestions", json={"count": 1})
        assert r.status_code == 409 and r.json()["error"] == "StudyArchived"
        # A pending evaluation may still be reported after archiving: nothing is lost.
        tell(c, sid, nxt, 3.0)


def test_a_trial_pending_past_the_timeout_expires_and_still_takes_its_value(
    stack: RealStack,
) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        study = create(c, pending_timeout_s=1.0)
        assert study["pending_timeout_s"] == 1.0
        sid = study["id"]
        (stale,) = ask(c, sid)
        time.sleep(1.2)
        (fresh,) = ask(c, sid)  # this ask expires the first trial
        r = c.get(f"/v1/studies/{sid}/trials", params={"state": "expired"})
        assert r.status_code == 200 and [t["id"] for t in r.json()["items"]] == [stale["id"]]
        counts = c.get(f"/v1/studies/{sid}").json()["counts"]
        assert (counts["pending"], counts["expired"]) == (1, 1)
        tell(c, sid, stale, 12.0)  # the client came back late: its value is kept
        tell(c, sid, fresh, 3.0)
        counts = c.get(f"/v1/studies/{sid}").json()["counts"]
        assert (counts["complete"], counts["expired"], counts["pending"]) == (2, 0, 0)


def test_noisy_study_recommends_by_posterior_mean(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        sid = create(c, noise="unknown", initial_design={"size": 6, "kind": "sobol"})["id"]
        for trial in ask(c, sid, 6):
            p = trial["params"]
            tell(c, sid, trial, branin(p["x1"], p["x2"]) + 0.1 * math.sin(7 * p["x1"]))
        best = c.get(f"/v1/studies/{sid}").json()["best"]
        assert best["based_on"] == "posterior_mean"
        assert best["predicted_mean"] is not None and math.isfinite(best["predicted_mean"])


def test_asks_are_answered_while_every_cpu_worker_runs_a_long_job(stack: RealStack) -> None:
    """Asks go to the studies queue: its worker answers while the CPU workers are busy."""
    with stack.stack.client(stack.keys[0]) as c:
        sid = create(c)["id"]
        jobs = [submit(c, long_job(30, seed=s)) for s in (11, 12)]
        for job in jobs:
            wait_for(c, job["id"], {"running"})
        ask(c, sid, 2)
        # answered before either job finished: no CPU worker was free to answer it
        assert [c.get(f"/v1/jobs/{job['id']}").json()["status"] for job in jobs] == [
            "running",
            "running",
        ]
        for job in jobs:
            c.post(f"/v1/jobs/{job['id']}/cancel")
        for job in jobs:
            assert wait_for(c, job["id"])["status"] == "cancelled"


def test_study_survives_a_worker_restart(stack: RealStack) -> None:
    s = stack.stack
    with s.client(stack.keys[0]) as c:
        sid = create(c)["id"]
        first = ask(c, sid, 2)
        for trial in first:
            tell(c, sid, trial, branin(trial["params"]["x1"], trial["params"]["x2"]))
        # every worker that answers asks dies; a CPU worker (the fallback) comes back
        s.kill_worker("w1")
        s.kill_worker("w2")
        s.kill_worker("s1")
        s.start_worker("w1")
        s.wait_for_workers(1)
        (after,) = ask(c, sid)
        got = c.get(f"/v1/studies/{sid}").json()
        assert got["counts"] == {"pending": 1, "complete": 2, "failed": 0, "expired": 0, "total": 3}
        assert key(after["params"]) not in {key(t["params"]) for t in first}


def test_bayesopt_benchmark_job_on_branin(stack: RealStack) -> None:
    body = {
        "problem": {
            "kind": "bayesopt_benchmark",
            "function": "branin",
            "budget": 30,
            "seed": 0,
            "shift": 0.1,
        }
    }
    with stack.stack.client(stack.keys[0]) as c:
        r = c.post("/v1/jobs", json=body)
        assert r.status_code == 202, r.text
        job = wait_for(c, r.json()["id"], timeout=240)
        assert job["status"] == "succeeded", job
        trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
    res = job["result"]
    assert res["certificate"]["simple_regret"] < 1e-2
    assert res["status"] == "converged"
    assert res["certificate"]["evaluations"] == 30
    best = [p["objective"] for p in trace]
    assert len(best) == 30 and all(b <= a for a, b in zip(best, best[1:], strict=False))
    assert min(res["solution"]["values"]) == pytest.approx(res["certificate"]["best_value"])
