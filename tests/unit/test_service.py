"""Job rules, the runner and the reconciler on a real SQLite database built by the migrations.

The broker is the embedded filesystem transport in a temporary folder: real, no server needed.
Celery worker processes are exercised by the integration suite; here the runner is called
in-process so that each rule is checked on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from app import migrate
from app.db import unit_of_work
from app.errors import IdempotencyConflict, JobFinished, NotFound
from app.jobs import dispatch, reconciler, repository, service
from app.jobs.models import Job
from app.keys.service import Caller
from app.settings import Settings
from app.timeutil import utcnow
from schemas.jobs import JobCreate
from tests.factories import lasso_job
from workers.celery_app import configure
from workers.runner import run_job

ALICE = Caller(tenant_id="alice", key_name="a")
BOB = Caller(tenant_id="bob", key_name="b")


@pytest.fixture(autouse=True)
def fresh_gpu_presence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the presence rows it wrote, not a cached answer from an earlier test."""
    monkeypatch.setattr(service, "GPU_PRESENCE_CACHE_S", 0.0)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = Settings(
        data_dir=tmp_path,
        lease_timeout_s=5,
        requeue_after_s=1,
        heartbeat_interval_s=0.05,
        max_attempts=2,
    )
    migrate.upgrade(s.resolved_database_url)
    configure(s)
    yield s


def submit(settings: Settings, body: dict, caller: Caller = ALICE, key: str | None = None) -> Job:
    with unit_of_work(settings.resolved_database_url) as session:
        spec = JobCreate.model_validate(body)
        sub = service.submit(session, caller, spec, settings=settings, idempotency_key=key)
        job = sub.job
    assert dispatch.send(job.id, job.queue, 60)
    return job


def load(settings: Settings, job_id: str) -> Job:
    with unit_of_work(settings.resolved_database_url) as session:
        job = repository.get(session, job_id)
        assert job is not None
        return job


def broker_messages(settings: Settings) -> int:
    return len(list((settings.broker_folder / "queue").glob("*.msg")))


def test_submit_sends_a_message_and_runner_solves(settings: Settings) -> None:
    job = submit(settings, lasso_job(seed=1, tol=1e-8, trace_every=1))
    assert broker_messages(settings) == 1
    assert run_job(job.id, settings=settings, queue="cpu") == "succeeded"
    done = load(settings, job.id)
    assert done.status == "succeeded" and done.attempts == 1
    assert done.result is not None and done.result["status"] == "converged"
    assert done.result["certificate"]["relative_gap"] <= 1e-8
    with unit_of_work(settings.resolved_database_url) as session:
        points = repository.trace(session, job.id, after=-1, limit=10_000)
    assert points and points[-1].iteration == done.result["iterations"]
    # Redelivery of a finished job's message is a no-op.
    assert run_job(job.id, settings=settings, queue="cpu") == "skipped"
    assert run_job("no-such-job", settings=settings, queue="cpu") == "skipped"


def test_idempotency_and_tenants(settings: Settings) -> None:
    first = submit(settings, lasso_job(seed=2), key="k1")
    again = submit(settings, lasso_job(seed=2), key="k1")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        submit(settings, lasso_job(seed=3), key="k1")
    other = submit(settings, lasso_job(seed=3), caller=BOB, key="k1")
    assert other.id != first.id
    with unit_of_work(settings.resolved_database_url) as session:
        with pytest.raises(NotFound):
            service.get(session, BOB, first.id)
        assert [
            j.id
            for j in service.list_jobs(
                session, BOB, status=None, kind=None, limit=10, cursor=None
            ).items
        ] == [other.id]


def test_cancel_rules(settings: Settings) -> None:
    queued = submit(settings, lasso_job(seed=4))
    with unit_of_work(settings.resolved_database_url) as session:
        assert service.cancel(session, ALICE, queued.id).status == "cancelled"
    assert run_job(queued.id, settings=settings, queue="cpu") == "skipped"

    done = submit(settings, lasso_job(seed=5))
    run_job(done.id, settings=settings, queue="cpu")
    with unit_of_work(settings.resolved_database_url) as session, pytest.raises(JobFinished):
        service.cancel(session, ALICE, done.id)


def test_stale_running_job_is_released_then_failed_after_max_attempts(settings: Settings) -> None:
    job = submit(settings, lasso_job(seed=6))
    stale = utcnow() - timedelta(seconds=60)
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status="running", attempts=1, claimed_by="gone:1", heartbeat_at=stale)
        )
    counts = reconciler.reconcile_once(settings)
    assert counts["released"] == 1 and counts["resent"] == 1
    released = load(settings, job.id)
    assert released.status == "queued" and released.send_count == 2

    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status="running", attempts=2, claimed_by="gone:2", heartbeat_at=stale)
        )
    assert reconciler.reconcile_once(settings)["failed"] == 1
    failed = load(settings, job.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["error"] == "WorkerLost"


def test_stale_job_with_cancel_requested_ends_cancelled(settings: Settings) -> None:
    job = submit(settings, lasso_job(seed=7))
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status="running",
                attempts=1,
                claimed_by="gone:1",
                cancel_requested=True,
                heartbeat_at=utcnow() - timedelta(seconds=60),
            )
        )
    assert reconciler.reconcile_once(settings)["cancelled"] == 1
    assert load(settings, job.id).status == "cancelled"


def test_unsent_job_is_sent_by_the_reconciler_with_backoff(settings: Settings) -> None:
    job = submit(settings, lasso_job(seed=8))
    with unit_of_work(settings.resolved_database_url) as session:
        repository.mark_unsent(session, job.id)
    assert reconciler.resend_lost(settings) == 1
    assert broker_messages(settings) == 2
    # Just sent: not due again before requeue_after_s * 2**(send_count-1).
    assert reconciler.resend_lost(settings) == 0


def test_numerical_failure_is_a_failed_job_with_its_result(settings: Settings) -> None:
    body = {
        "problem": {
            "kind": "lasso",
            "A": [[1e200, 1e200], [1e200, -1e200]],
            "b": [1e200, 1.0],
            "lam": 1.0,
        }
    }
    job = submit(settings, body)
    assert run_job(job.id, settings=settings, queue="cpu") == "failed"
    failed = load(settings, job.id)
    assert failed.error is not None and failed.error["error"] == "NumericalError"
    assert failed.result is not None and failed.result["status"] == "numerical_error"


def test_unparseable_stored_problem_fails_cleanly(settings: Settings) -> None:
    job = submit(settings, lasso_job(seed=9))
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(update(Job).where(Job.id == job.id).values(problem=b"{}"))
    assert run_job(job.id, settings=settings, queue="cpu") == "failed"
    failed = load(settings, job.id)
    assert failed.error is not None and failed.error["error"] == "InvalidStoredProblem"


def test_device_routing_follows_live_gpu_workers(settings: Settings) -> None:
    from app.errors import NoGpuWorker
    from app.fleet import repository as fleet

    def queue_for(device: str) -> str:
        return submit(settings, {**lasso_job(seed=10), "device": device}).queue

    assert queue_for("auto") == "cpu"
    with pytest.raises(NoGpuWorker):
        queue_for("gpu")
    with unit_of_work(settings.resolved_database_url) as session:
        fleet.touch(session, name="gpu-host:1", queue="gpu", gpu=True, now=utcnow())
    assert queue_for("auto") == "gpu"
    assert queue_for("gpu") == "gpu"
    assert queue_for("cpu") == "cpu"
    with unit_of_work(settings.resolved_database_url) as session:
        fleet.touch(
            session,
            name="gpu-host:1",
            queue="gpu",
            gpu=True,
            now=utcnow() - timedelta(seconds=settings.worker_presence_ttl_s + 1),
        )
    assert queue_for("auto") == "cpu"  # a silent GPU worker is presumed gone


def test_auto_job_waiting_for_a_vanished_gpu_worker_moves_to_cpu(settings: Settings) -> None:
    from app.fleet import repository as fleet

    with unit_of_work(settings.resolved_database_url) as session:
        fleet.touch(session, name="gpu-host:2", queue="gpu", gpu=True, now=utcnow())
    auto = submit(settings, lasso_job(seed=11))
    pinned = submit(settings, {**lasso_job(seed=12), "device": "gpu"})
    assert auto.queue == pinned.queue == "gpu"
    with unit_of_work(settings.resolved_database_url) as session:
        fleet.remove(session, "gpu-host:2")
        for job in (auto, pinned):
            repository.mark_unsent(session, job.id)
    reconciler.resend_lost(settings)
    assert load(settings, auto.id).queue == "cpu"
    assert load(settings, pinned.id).queue == "gpu"  # the caller asked for the GPU


def test_a_job_waiting_in_a_moving_queue_is_not_resent(settings: Settings) -> None:
    """Consumers that have not reached a message yet did not lose it."""
    waiting = submit(settings, lasso_job(seed=13))
    ahead = submit(settings, lasso_job(seed=14))
    long_ago = utcnow() - timedelta(seconds=60)
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(update(Job).where(Job.id == waiting.id).values(enqueued_at=long_ago))
        # A job sent before `waiting` has just started: the queue moves and is not past it.
        session.execute(
            update(Job)
            .where(Job.id == ahead.id)
            .values(
                status="running",
                enqueued_at=long_ago - timedelta(seconds=5),
                started_at=utcnow(),
                heartbeat_at=utcnow(),
            )
        )
    assert reconciler.resend_lost(settings) == 0
    # Once consumers start a job sent after it, `waiting` was skipped: its message is lost.
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(
            update(Job)
            .where(Job.id == ahead.id)
            .values(enqueued_at=long_ago + timedelta(seconds=10))
        )
    assert reconciler.resend_lost(settings) == 1
