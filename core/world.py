"""The event schema every source lands in (DESIGN.md section 3.1)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pandas as pd

ACTIONS = ("impression", "click", "save", "long_click", "hide", "search")
SURFACES = ("homefeed", "related", "search")

# Column -> pandas dtype for each table. Ids are int64; timestamps are UTC.
SCHEMA: dict[str, dict[str, str]] = {
    "pins": {
        "pin_id": "int64",
        "creator_id": "int64",
        "title": "string",
        "description": "string",
        "category": "string",
        "image_signature": "int64",
        "is_ad": "bool",
        "merchant_id": "Int64",
        "created_at": "datetime64[ns, UTC]",
    },
    "boards": {"board_id": "int64", "user_id": "int64", "name": "string"},
    "board_pins": {"board_id": "int64", "pin_id": "int64", "saved_at": "datetime64[ns, UTC]"},
    "users": {
        "user_id": "int64",
        "country": "string",
        "language": "string",
        "age_bucket": "string",
        "signup_at": "datetime64[ns, UTC]",
    },
    "events": {
        "event_id": "int64",
        "user_id": "int64",
        "pin_id": "Int64",
        "action": "string",
        "surface": "string",
        "query": "string",
        "position": "Int64",
        "ts": "datetime64[ns, UTC]",
    },
}
TABLES = tuple(SCHEMA)
# The columns sql/migrations lets be NULL; every other column must hold a value.
NULLABLE = frozenset(
    {("pins", "merchant_id"), ("events", "pin_id"), ("events", "query"), ("events", "position")}
)
# The first day of the daily event partitions: events before it would never be loaded.
FIRST_EVENT_DAY = datetime.date(2026, 1, 1)


@dataclass(frozen=True)
class World:
    """A catalogue (pins, boards, users) plus the append-only event log."""

    pins: pd.DataFrame
    boards: pd.DataFrame
    board_pins: pd.DataFrame
    users: pd.DataFrame
    events: pd.DataFrame

    def table(self, name: str) -> pd.DataFrame:
        """The table called ``name`` (one of ``TABLES``)."""
        if name not in SCHEMA:
            raise KeyError(f"unknown table {name!r}; expected one of {TABLES}")
        return getattr(self, name)


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of ``frame`` in schema order, cast to the schema's dtypes."""
    columns = SCHEMA[name]
    return frame[list(columns)].astype(columns).reset_index(drop=True)
