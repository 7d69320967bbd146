"""Reads for the experiments: logged page impressions, the engagements posted for them, the arms,
and the users whose home feeds were logged."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text


def page_impressions(conn: Connection, *, days: int) -> pd.DataFrame:
    """request_id, pin_id, user_id, arm, served_at of every impression served in the last ``days`` days."""
    return pd.read_sql(
        text(
            "SELECT request_id, pin_id, user_id, arm, served_at FROM page_impressions "
            "WHERE served_at >= now() - make_interval(days => :days)"
        ),
        conn,
        params={"days": days},
        dtype={"user_id": "Int64"},
    )


def page_engagements(conn: Connection, *, days: int) -> pd.DataFrame:
    """request_id, pin_id, action of the events posted with a request id of a page served in the
    last ``days`` days."""
    return pd.read_sql(
        text(
            "SELECT e.request_id, e.pin_id, e.action FROM posted_events e WHERE e.request_id IN "
            "(SELECT request_id FROM page_impressions WHERE served_at >= now() - make_interval(days => :days))"
        ),
        conn,
        params={"days": days},
    )


def arm_names(conn: Connection) -> list[str]:
    """The experiment arms configured now, by name."""
    return list(conn.scalars(text("SELECT arm FROM experiment_arms ORDER BY arm")))


def logged_home_feed_users(conn: Connection, *, days: int, limit: int) -> list[int]:
    """Up to ``limit`` users served a home feed in the last ``days`` days, most pages first (ties by id)."""
    rows = conn.execute(
        text(
            "SELECT user_id FROM page_impressions WHERE surface = 'homefeed' AND user_id IS NOT NULL "
            "AND served_at >= now() - make_interval(days => :days) "
            "GROUP BY user_id ORDER BY count(DISTINCT request_id) DESC, user_id LIMIT :limit"
        ),
        {"days": days, "limit": limit},
    )
    return list(rows.scalars())
