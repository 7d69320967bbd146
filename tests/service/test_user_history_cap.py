"""A heavy user's exclusions: the request reads only the most recent ``max_excluded`` of them."""

from __future__ import annotations

import datetime

from sqlalchemy import text

from service.request_context import read_request_data
from sql.events import user_history
from sql.migrate import migrated_engine

USER = 9_000_002  # far from any generated user; every row below is rolled back
NOW = datetime.datetime(2026, 10, 31, 12, tzinfo=datetime.UTC)
HIDES = 40
CAP = 15


def add_hides(conn, count: int) -> None:
    """``count`` hides of USER, pin ``p`` hidden ``p`` hours before NOW (pin 1 the most recent)."""
    for pin_id in range(1, count + 1):
        conn.execute(
            text(
                "INSERT INTO events (event_id, user_id, pin_id, action, surface, ts) "
                "VALUES (:e, :u, :p, 'hide', 'homefeed', :ts)"
            ),
            {"e": -2_000 - pin_id, "u": USER, "p": pin_id, "ts": NOW - datetime.timedelta(hours=pin_id)},
        )


def test_a_user_with_more_hides_than_the_cap_gets_the_most_recent_ones(session_data_dir):
    with migrated_engine().connect() as conn:
        add_hides(conn, HIDES)
        _, capped = user_history(conn, user_id=USER, limit=5, seen_days=0, max_excluded=CAP)
        _, everything = user_history(conn, user_id=USER, limit=5, seen_days=0, max_excluded=HIDES)
        request = read_request_data(conn, user_id=USER, seen_days=0, max_excluded=CAP)
        conn.rollback()
    assert sorted(capped) == list(range(1, CAP + 1))
    assert sorted(everything) == list(range(1, HIDES + 1))
    assert sorted(request.history.excluded_pin_ids) == list(range(1, CAP + 1))
