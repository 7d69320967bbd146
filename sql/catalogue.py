"""Catalogue tables (pins, users, boards, board_pins): replace and read."""

from __future__ import annotations

import numpy as np
import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from core.world import World
from sql.bulk import copy_into, copy_out

CATALOGUE_TABLES = ("users", "pins", "boards", "board_pins")  # load order respects foreign keys


def replace_catalogue(conn: Connection, *, world: World) -> dict[str, int]:
    """Swap the whole catalogue for ``world``'s in the caller's transaction; rows per table."""
    conn.execute(text("TRUNCATE board_pins, boards, pins, users"))
    return {name: copy_into(conn, name, world.table(name)) for name in CATALOGUE_TABLES}


def read_table(conn: Connection, *, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """Columns of one catalogue table as a frame."""
    if table not in CATALOGUE_TABLES:
        raise ValueError(f"{table!r} is not a catalogue table")
    query = pgsql.SQL("SELECT {} FROM {}").format(
        pgsql.SQL(", ").join(map(pgsql.Identifier, columns)), pgsql.Identifier(table)
    )
    return copy_out(conn, query)


def pin_texts_of(conn: Connection, pin_ids: np.ndarray) -> pd.DataFrame:
    """The title and description of each of ``pin_ids``, row-aligned with them (indexed by pin_id);
    both missing for a pin the catalogue no longer holds."""
    query = pgsql.SQL("SELECT pin_id, title, description FROM pins WHERE pin_id = ANY(%(ids)s)")
    found = copy_out(conn, query, {"ids": np.asarray(pin_ids, dtype=np.int64).tolist()})
    return found.set_index("pin_id").reindex(pin_ids)


def user_ids(conn: Connection, *, limit: int) -> list[int]:
    """The first ``limit`` user ids, most active first (ties by id)."""
    rows = conn.execute(
        text(
            "SELECT u.user_id FROM users u LEFT JOIN events e ON e.user_id = u.user_id "
            "GROUP BY u.user_id ORDER BY count(e.event_id) DESC, u.user_id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return list(rows.scalars())
