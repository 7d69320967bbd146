"""Fast bulk transfer between pandas frames (or numpy records) and Postgres through COPY."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
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
    _with_iso_timestamps(frame).to_csv(buffer, index=False, header=False, na_rep="\\N")
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, frame.columns))
    )
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())
    return len(frame)


# COPY's binary format: a signature, flags and the header extension's length (both 0); -1 fields ends it.
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_BINARY_TRAILER = b"\xff\xff"


def copy_binary_rows(conn: Connection, table: str, columns: Sequence[str], rows: np.ndarray) -> int:
    """COPY ``rows`` into ``table``'s ``columns`` inside the caller's transaction: a structured array
    laid out as COPY's binary tuples (each a big-endian field count, then each field's byte length and
    value in the column type's binary form), sent as it is."""
    if len(rows) == 0:
        return 0
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
    )
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(COPY_BINARY_HEADER + rows.tobytes() + COPY_BINARY_TRAILER)
    return len(rows)


def copy_binary_out(conn: Connection, query: pgsql.Composable, params: dict | None, row: np.dtype) -> np.ndarray:
    """Run ``query`` through COPY ... TO STDOUT in binary form and read its tuples as ``row``, a
    structured dtype laid out as ``copy_binary_rows`` sends them: every tuple must have that one
    size, so the query pads whatever varies (arrays) to a fixed width. Raises ValueError on a tuple
    of another layout (its field count, then every field's byte length, are checked)."""
    driver = conn.connection.driver_connection
    statement = pgsql.SQL("COPY ({}) TO STDOUT WITH (FORMAT binary)").format(query)
    with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
        data = b"".join(copy)
    if not data.startswith(COPY_BINARY_HEADER) or not data.endswith(COPY_BINARY_TRAILER):
        raise ValueError("COPY's binary output lacks its header or trailer")
    body = memoryview(data)[len(COPY_BINARY_HEADER) : len(data) - len(COPY_BINARY_TRAILER)]
    if len(body) % row.itemsize:
        raise ValueError(f"COPY sent {len(body)} bytes of tuples, not a whole number of {row.itemsize}-byte rows")
    rows = np.frombuffer(body, dtype=row)
    for name, expected in _layout_fields(row).items():
        if len(rows) and not (rows[name] == expected).all():
            raise ValueError(f"COPY sent tuples whose {name} is not {expected}: not the layout expected")
    return rows


def _layout_fields(row: np.dtype) -> dict[str, int]:
    """The fields of ``row`` that give a tuple's layout, and the value each must hold: its field
    count (``fields``) and each ``<name>_bytes`` length, which is the byte size of ``<name>`` as
    ``row`` lays it out, up to the next length (a value's own header belongs to it)."""
    names = list(row.names)
    layout = {"fields": sum(name.endswith("_bytes") for name in names)}
    lengths = [number for number, name in enumerate(names) if name.endswith("_bytes")]
    for at, number in enumerate(lengths):
        end = lengths[at + 1] if at + 1 < len(lengths) else len(names)
        layout[names[number]] = sum(row[name].itemsize for name in names[number + 1 : end])
    return layout


def _with_iso_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its datetime columns as ISO-8601 text, formatted by numpy in one pass.

    pandas formats timezone-aware columns one ``strftime`` call per row (about 5 s per million
    rows); numpy does the same in C. Aware columns are written in UTC with a ``Z``, naive ones
    without an offset, as before.
    """
    columns = [name for name, dtype in frame.dtypes.items() if pd.api.types.is_datetime64_any_dtype(dtype)]
    if not columns:
        return frame
    formatted = frame.copy(deep=False)
    for name in columns:
        values = frame[name]
        aware = isinstance(values.dtype, pd.DatetimeTZDtype)
        naive = values.dt.tz_convert(None) if aware else values
        text = np.datetime_as_string(naive.to_numpy(), unit="us", timezone="UTC" if aware else "naive")
        formatted[name] = pd.Series(text, index=frame.index).where(values.notna(), None)
    return formatted


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
