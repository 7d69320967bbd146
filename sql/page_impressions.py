"""The impressions of served pages: one row per pin and position, keyed by the page's request id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class ServedPage:
    """What one page showed: its pins in position order, and whom it was served to under which arm."""

    request_id: str
    surface: str
    user_id: int | None
    arm: str | None
    pin_ids: list[int]


def log_page(conn: Connection, *, page: ServedPage) -> int:
    """Insert the page's impressions in one statement; a request id logged before keeps its first
    page. Returns the rows inserted."""
    result = conn.execute(
        text(
            "INSERT INTO page_impressions (request_id, position, pin_id, surface, user_id, arm) "
            "SELECT :request_id, shown.position - 1, shown.pin_id, :surface, :user_id, :arm "
            "FROM unnest(CAST(:pin_ids AS bigint[])) WITH ORDINALITY AS shown (pin_id, position) "
            "ON CONFLICT (request_id, position) DO NOTHING"
        ),
        {"request_id": page.request_id, "surface": page.surface, "user_id": page.user_id, "arm": page.arm,
         "pin_ids": page.pin_ids},
    )
    return result.rowcount
