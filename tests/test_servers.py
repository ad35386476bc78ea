"""Smoke test for the real-server process managers in tests/servers.py."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.servers import (
    PostgresServer,
    RedisServer,
    find_postgres_bin,
    free_port,
    require_servers,
)

pytestmark = pytest.mark.integration


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_postgres_and_redis(tmp_path: Path) -> None:
    require_servers()
    import psycopg
    import redis

    pg = PostgresServer(tmp_path)
    rs = RedisServer(tmp_path)
    with pg, rs:
        # PostgreSQL: superuser "optaas", trust auth over TCP on loopback.
        assert pg.url() == f"postgresql+psycopg://optaas@127.0.0.1:{pg.port}/optaas"
        assert pg.url("other").endswith(f":{pg.port}/other")
        conninfo = f"host=127.0.0.1 port={pg.port} user=optaas dbname=postgres"
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
        pg.create_database("optaas")
        with psycopg.connect(pg.dsn("optaas")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("optaas",)
        if os.geteuid() == 0:
            owner = (tmp_path / "postgres").stat().st_uid
            assert owner != 0, "root: the cluster must belong to a non-root user"

        # Redis: answers PING; restart keeps the port and loses every key.
        assert rs.url(3) == f"redis://127.0.0.1:{rs.port}/3"
        client = redis.Redis.from_url(rs.url(0))
        try:
            assert client.ping() is True
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            client.set("k", "v")
            assert client.get("k") == b"v"
            port = rs.port
            rs.restart()
            assert rs.port == port
            assert rs.running
            assert client.get("k") is None
            assert client.ping() is True
        finally:
            client.close()
        pg_port, redis_port = pg.port, rs.port

    # Both stopped, nothing left listening; stop() is idempotent.
    assert not pg.running and not rs.running
    assert not _listening(pg_port) and not _listening(redis_port)
    assert not list(tmp_path.glob("*.rdb")) and not list(tmp_path.glob("appendonly*"))
    pg.stop()
    rs.stop()

    # A stopped cluster starts again with its data (initdb only runs once).
    with PostgresServer(tmp_path, port=pg_port) as pg2:
        with psycopg.connect(pg2.dsn("optaas")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not _listening(pg_port)


def test_find_postgres_bin_prefers_real_binaries() -> None:
    require_servers()
    initdb = find_postgres_bin("initdb")
    out = subprocess.run([initdb, "--version"], capture_output=True, text=True, check=True)
    assert "initdb" in out.stdout
    with pytest.raises(FileNotFoundError):
        find_postgres_bin("definitely-not-a-postgres-tool")


def test_require_servers_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.servers as servers

    monkeypatch.setattr(servers, "servers_available", lambda: (False, "nothing installed"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nothing installed"):
        servers.require_servers()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="nothing installed"):
        servers.require_servers()
