"""Statements of the request path run on the psycopg connection under a SQLAlchemy one: SQLAlchemy's
``execute`` adds about 0.5 ms of CPU per statement to psycopg's own (docs/performance.md), several
times what the small statements of a page cost in Postgres. psycopg binds ``%(name)s`` parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection


def fetch_all(conn: Connection, query: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of ``query`` run on ``conn``'s psycopg connection (in its transaction, if any)."""
    with conn.connection.driver_connection.cursor() as cursor:
        return cursor.execute(query, params).fetchall()
