"""Events posted to the service: appended once per client id to ``posted_events`` and the event
log together, and copied back into the log whenever a load replaces their day."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import Connection, text

# Columns the event log shares with posted_events.
LOG_COLUMNS = "event_id, user_id, pin_id, action, surface, query, position, ts"


@dataclass(frozen=True)
class PostedEvent:
    """One event as a client posted it (validated: see service/event_batch.py)."""

    client_event_id: str
    user_id: int
    pin_id: int
    action: str
    surface: str
    ts: datetime
    query: str | None = None
    position: int | None = None
    request_id: str | None = None
    arm: str | None = None


@dataclass(frozen=True)
class AppendOutcome:
    """What became of a batch: the client ids stored now, those stored before, and those refused
    because their user or pin is not in the catalogue (id -> reason)."""

    stored: list[str]
    duplicates: list[str]
    refused: dict[str, str]


_APPEND = text(
    """
    WITH batch AS (
        SELECT * FROM unnest(
            CAST(:client_event_id AS text[]), CAST(:user_id AS bigint[]), CAST(:pin_id AS bigint[]),
            CAST(:action AS text[]), CAST(:surface AS text[]), CAST(:query AS text[]),
            CAST(:position AS integer[]), CAST(:ts AS timestamptz[]), CAST(:request_id AS text[]),
            CAST(:arm AS text[])
        ) AS b (client_event_id, user_id, pin_id, action, surface, query, position, ts, request_id, arm)
    ),
    checked AS (
        SELECT b.*, CASE WHEN u.user_id IS NULL THEN 'unknown user_id'
                         WHEN p.pin_id IS NULL THEN 'unknown pin_id' END AS problem
        FROM batch b LEFT JOIN users u ON u.user_id = b.user_id LEFT JOIN pins p ON p.pin_id = b.pin_id
    ),
    stored AS (
        INSERT INTO posted_events
            (client_event_id, user_id, pin_id, action, surface, query, position, ts, request_id, arm, posted_by)
        SELECT client_event_id, user_id, pin_id, action, surface, query, position, ts, request_id, arm, :posted_by
        FROM checked WHERE problem IS NULL
        ON CONFLICT (client_event_id) DO NOTHING
        RETURNING client_event_id, """
    + LOG_COLUMNS
    + """
    ),
    logged AS (
        INSERT INTO events ("""
    + LOG_COLUMNS
    + ") SELECT "
    + LOG_COLUMNS
    + """ FROM stored
    )
    SELECT c.client_event_id, c.problem, s.client_event_id IS NOT NULL AS stored
    FROM checked c LEFT JOIN stored s USING (client_event_id)
    """
)


def append_posted(conn: Connection, *, events: list[PostedEvent], posted_by: str) -> AppendOutcome:
    """Store ``events`` (distinct client ids) whose user and pin are in the catalogue, in
    ``posted_events`` and the event log, skipping client ids stored before. One statement: all of
    it is written or none."""
    columns = {field.name: [getattr(event, field.name) for event in events] for field in fields(PostedEvent)}
    rows = conn.execute(_APPEND, {**columns, "posted_by": posted_by}).all()
    return AppendOutcome(
        stored=[row.client_event_id for row in rows if row.stored],
        duplicates=[row.client_event_id for row in rows if row.problem is None and not row.stored],
        refused={row.client_event_id: row.problem for row in rows if row.problem is not None},
    )


def restore_posted_days(conn: Connection, *, first: date, last: date) -> int:
    """Copy the events posted for days ``first..last`` into the event log (whose rows of those
    days the caller has just deleted); returns how many."""
    result = conn.execute(
        text(f"INSERT INTO events ({LOG_COLUMNS}) SELECT {LOG_COLUMNS} FROM posted_events WHERE day BETWEEN :a AND :b"),
        {"a": first, "b": last},
    )
    return result.rowcount
