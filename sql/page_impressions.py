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


_INSERT = text(
    "INSERT INTO page_impressions (request_id, position, pin_id, surface, user_id, arm) "
    "SELECT * FROM unnest(CAST(:request_id AS text[]), CAST(:position AS integer[]), CAST(:pin_id AS bigint[]), "
    "CAST(:surface AS text[]), CAST(:user_id AS bigint[]), CAST(:arm AS text[])) "
    "ON CONFLICT (request_id, position) DO NOTHING"
)


def log_pages(conn: Connection, *, pages: list[ServedPage]) -> int:
    """Insert the pages' impressions in one statement, in a transaction of its own whose commit does
    not wait for the disk (``synchronous_commit`` off for it alone: a crash may lose the last
    moments' impressions, and a busy disk never holds the connection); a request id logged before
    keeps its first page. Returns the rows inserted."""
    shown = [(page, position, pin_id) for page in pages for position, pin_id in enumerate(page.pin_ids)]
    columns = {
        "request_id": [page.request_id for page, _, _ in shown],
        "position": [position for _, position, _ in shown],
        "pin_id": [pin_id for _, _, pin_id in shown],
        "surface": [page.surface for page, _, _ in shown],
        "user_id": [page.user_id for page, _, _ in shown],
        "arm": [page.arm for page, _, _ in shown],
    }
    driver = conn.connection.driver_connection
    with driver.transaction():
        driver.execute("SET LOCAL synchronous_commit = off")
        return conn.execute(_INSERT, columns).rowcount
