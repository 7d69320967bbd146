"""The event schema agrees with the SQL schema it lands in."""

from __future__ import annotations

import re
from pathlib import Path

from core.world import NULLABLE, SCHEMA

MIGRATION = Path(__file__).resolve().parents[2] / "sql" / "migrations" / "0001_catalogue_and_events.sql"


def _sql_nullable_columns() -> set[tuple[str, str]]:
    """(table, column) of every column of the catalogue migration that has no NOT NULL."""
    nullable = set()
    for table, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", MIGRATION.read_text(), re.S):
        for line in body.strip().splitlines():
            column = line.split()[0]
            if column in SCHEMA[table] and "NOT NULL" not in line and "PRIMARY KEY" not in line:
                nullable.add((table, column))
    return nullable


def test_nullable_columns_are_those_the_sql_schema_lets_be_null() -> None:
    assert NULLABLE == _sql_nullable_columns()


def test_nullable_integer_columns_have_a_nullable_dtype() -> None:
    for table, columns in SCHEMA.items():
        for column, dtype in columns.items():
            if dtype.startswith(("int", "Int")):
                assert (dtype == "Int64") == ((table, column) in NULLABLE), (table, column)
