"""Nothing is lost: a worker SIGKILLed mid-job, or Redis restarted with jobs queued."""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from tests.factories import lasso_job, long_job, submit, wait_for
from tests.integration.conftest import RealStack

pytestmark = pytest.mark.integration


def owner_pid(stack: RealStack, job_id: str) -> int:
    with psycopg.connect(stack.pg.dsn("optaas")) as conn:
        row = conn.execute("SELECT claimed_by FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row and row[0], "a running job names its worker process"
    return int(row[0].rpartition(":")[2])


def test_pool_process_sigkilled_mid_job_is_rerun(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        job = submit(c, long_job(2.0, seed=40))
        wait_for(c, job["id"], {"running"})
        time.sleep(0.5)
        os.kill(owner_pid(stack, job["id"]), signal.SIGKILL)
        done = wait_for(c, job["id"], timeout=60)
        assert done["status"] == "succeeded", done
        assert done["attempts"] >= 2
        trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
        assert trace and trace[-1]["iteration"] == done["result"]["iterations"]


def test_whole_worker_sigkilled_mid_job_finishes_elsewhere(stack: RealStack) -> None:
    s = stack.stack
    with s.client(stack.keys[0]) as c:
        job = submit(c, long_job(2.0, seed=41))
        wait_for(c, job["id"], {"running"})
        pid = owner_pid(stack, job["id"])
        victim = next(name for name, proc in s.workers.items() if os.getpgid(pid) == proc.pid)
        s.kill_worker(victim)  # main process and pool together: the broker gets no word
        done = wait_for(c, job["id"], timeout=90)
        assert done["status"] == "succeeded", done
        assert done["attempts"] >= 2
        assert done["result"]["status"] == "time_limit"


def test_redis_restart_with_jobs_queued_loses_none(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        # Long enough that neither blocker ends before the queued jobs are checked.
        blockers = [submit(c, long_job(6.0, seed=s)) for s in (50, 51)]
        for b in blockers:
            wait_for(c, b["id"], {"running"})
        queued = [submit(c, lasso_job(seed=s)) for s in range(52, 58)]
        assert all(c.get(f"/v1/jobs/{q['id']}").json()["status"] == "queued" for q in queued)
        stack.redis.restart()  # no persistence: every queued message is gone
        for job in blockers + queued:
            done = wait_for(c, job["id"], timeout=90)
            assert done["status"] == "succeeded", done


def test_submissions_while_redis_is_down_run_when_it_returns(stack: RealStack) -> None:
    with stack.stack.client(stack.keys[0]) as c:
        stack.redis.stop()
        try:
            t0 = time.monotonic()
            jobs = [submit(c, lasso_job(seed=s)) for s in range(60, 63)]
            assert time.monotonic() - t0 < 15, "a broker outage must not stall submissions"
            ready = c.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["broker"]["ok"]
        finally:
            stack.redis.start()
        for job in jobs:
            assert wait_for(c, job["id"], timeout=90)["status"] == "succeeded"
