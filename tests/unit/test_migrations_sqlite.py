"""Migrations from empty to head and back, on SQLite; the schema matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db import make_engine
from app.models import Base

TABLES = {"jobs", "trace_points", "api_keys", "worker_presence"}


def check_up_down(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert TABLES <= set(inspect(conn).get_table_names())
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        migrate.downgrade(url, "base")
        with engine.connect() as conn:
            assert not TABLES & set(inspect(conn).get_table_names())
        migrate.upgrade(url)
        with engine.connect() as conn:
            assert TABLES <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_up_down_up(tmp_path: Path) -> None:
    check_up_down(f"sqlite:///{tmp_path / 'm.sqlite3'}")
