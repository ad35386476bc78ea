"""Migrations from empty to head and back, on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.conftest import RealStack
from tests.unit.test_migrations_sqlite import check_up_down

pytestmark = pytest.mark.integration


def test_postgres_up_down_up(stack: RealStack) -> None:
    stack.pg.create_database("migrations")
    check_up_down(stack.pg.url("migrations"))
