"""The real stack: PostgreSQL, Redis, the API over HTTP and two Celery worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.servers import PostgresServer, RedisServer, require_servers
from tests.stack import Stack

# Short leases and fast reconciliation so recovery tests take seconds, not minutes.
STACK_ENV = {
    "OPTAAS_ENVIRONMENT": "test",
    "OPTAAS_AUTH_ENABLED": "true",
    "OPTAAS_HEARTBEAT_INTERVAL_S": "0.2",
    "OPTAAS_LEASE_TIMEOUT_S": "3",
    "OPTAAS_REQUEUE_AFTER_S": "2",
    "OPTAAS_RECONCILE_INTERVAL_S": "0.5",
    "OPTAAS_MAX_BODY_BYTES": "4000000",
    "OPTAAS_MAX_PROBLEM_ELEMENTS": "200000",
    "OPTAAS_MAX_TIME_LIMIT_S": "120",
    "OPTAAS_WORKER_PRESENCE_TTL_S": "15",
}


class RealStack:
    def __init__(self, stack: Stack, redis: RedisServer, pg: PostgresServer, keys: list[str]):
        self.stack, self.redis, self.pg, self.keys = stack, redis, pg, keys


@pytest.fixture(scope="session")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    require_servers()
    base: Path = tmp_path_factory.mktemp("stack")
    with PostgresServer(base) as pg, RedisServer(base) as redis:
        pg.create_database("optaas")
        env = {
            **STACK_ENV,
            "OPTAAS_DATABASE_URL": pg.url("optaas"),
            "OPTAAS_BROKER_URL": redis.url(0),
        }
        stack = Stack(env, base / "logs")
        try:
            stack.optaas("migrate")
            keys = [stack.create_key("tenant-a"), stack.create_key("tenant-b")]
            stack.start_api()
            stack.start_worker("w1")
            stack.start_worker("w2")
            stack.start_worker("s1", queue="studies")
            stack.wait_for_workers(2)
            stack.wait_for_workers(1, queue="studies")
            yield RealStack(stack, redis, pg, keys)
        finally:
            stack.stop()


def live_worker_processes(pg: PostgresServer) -> int:
    """Presence rows whose process still exists (a killed worker's row lingers until its TTL)."""
    with psycopg.connect(pg.dsn("optaas")) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM worker_presence WHERE queue = 'cpu'")]
    return sum(Path(f"/proc/{name.rpartition(':')[2]}").exists() for name in names)


@pytest.fixture
def stack(real_stack: RealStack) -> Iterator[RealStack]:
    """The shared stack, with every worker alive again after a test that killed one."""
    yield real_stack
    s = real_stack.stack
    for name in ("w1", "w2"):
        if name not in s.workers:
            s.start_worker(name)
    if "s1" not in s.workers:
        s.start_worker("s1", queue="studies")
        s.wait_for_workers(1, queue="studies")
    s.wait_until(lambda: live_worker_processes(real_stack.pg) >= 2, 60, "workers did not come back")
