"""Fast bulk transfer between pandas frames and Postgres through COPY."""

from __future__ import annotations

import io

import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy import Connection

# Columns that come back from Postgres as timestamptz text and are parsed to UTC timestamps.
TIMESTAMP_COLUMNS = frozenset({"ts", "event_timestamp", "created_at", "signup_at", "saved_at"})


def copy_into(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` into ``table`` (columns by name) inside the caller's transaction."""
    if frame.empty:
        return 0
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, frame.columns))
    )
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())
    return len(frame)


def copy_out(conn: Connection, query: pgsql.Composable, params: dict | None = None) -> pd.DataFrame:
    """Run ``query`` through COPY ... TO STDOUT and parse the CSV (much faster than row fetches).

    ``params`` fill ``%(name)s`` placeholders; psycopg binds them client-side, as COPY takes no
    server-side parameters.
    """
    driver = conn.connection.driver_connection
    statement = pgsql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query)
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame()
    frame = pd.read_csv(buffer, true_values=["t"], false_values=["f"])
    for column in TIMESTAMP_COLUMNS.intersection(frame.columns):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
