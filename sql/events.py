"""The event log: replace whole days, read actions, label impressions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from models.engagements import Engagements
from sql.bulk import copy_into, copy_out
from sql.driver import fetch_all
from sql.posted_events import restore_posted_days

EVENT_COLUMNS = ("event_id", "user_id", "pin_id", "action", "surface", "query", "position", "ts")
ENGAGEMENTS = ("click", "save", "long_click", "hide")
# A user's latest engagements, newest first: the request's and the offline medoids' (ties by event id,
# so that both take the same ones in the same order).
ENGAGED = "action IN ('click', 'save', 'long_click')"
NEWEST_FIRST = "ts DESC, event_id DESC"


def replace_days(conn: Connection, *, first: date, last: date, events: pd.DataFrame) -> int:
    """Delete days ``first..last`` and insert ``events`` and the events posted to the service for
    those days, in the caller's transaction (idempotent); returns the rows written."""
    outside = (events["ts"].dt.date < first) | (events["ts"].dt.date > last)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} events fall outside {first}..{last}")
    # One writer at a time (readers go on): a second load of the same days waits for the first to
    # commit, then deletes its rows, instead of missing them and colliding on event_id.
    conn.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(text("DELETE FROM events WHERE day BETWEEN :first AND :last"), {"first": first, "last": last})
    return copy_into(conn, "events", events[list(EVENT_COLUMNS)]) + restore_posted_days(conn, first=first, last=last)


def read_actions(conn: Connection, *, actions: tuple[str, ...]) -> pd.DataFrame:
    """user_id, pin_id, action, ts of every event whose action is in ``actions``."""
    query = pgsql.SQL(
        "SELECT user_id, pin_id, action, ts FROM events WHERE action = ANY(%(actions)s) AND pin_id IS NOT NULL"
    )
    return copy_out(conn, query, {"actions": list(actions)})


def latest_engagements(conn: Connection, *, limit: int) -> pd.DataFrame:
    """user_id, pin_id, action, ts of each user's latest ``limit`` clicks, saves and long clicks, by
    user and newest first: the engagements ``user_history`` gives, in its order."""
    query = pgsql.SQL(
        "SELECT user_id, pin_id, action, ts FROM ("
        f" SELECT user_id, pin_id, action, ts, row_number() OVER (PARTITION BY user_id ORDER BY {NEWEST_FIRST}) AS n"
        f" FROM events WHERE {ENGAGED}"
        ") AS latest WHERE n <= %(limit)s ORDER BY user_id, n"
    )
    return copy_out(conn, query, {"limit": limit})


def event_span(conn: Connection) -> tuple[date, date] | None:
    """First and last day that hold events, or None for an empty log."""
    row = conn.execute(text("SELECT min(day), max(day) FROM events")).one()
    return None if row[0] is None else (row[0], row[1])


def labelled_impressions(conn: Connection, *, since: date, limit: int) -> pd.DataFrame:
    """The latest ``limit`` impressions from day ``since`` on, with one 0/1 column per action.

    An impression is labelled with an action when the same user took it on the same pin the
    same day; ``event_timestamp`` is the impression's time, for point-in-time feature joins.
    """
    labels = pgsql.SQL(", ").join(
        pgsql.SQL("coalesce(bool_or(a.action = {}), false)::int AS {}").format(
            pgsql.Literal(action), pgsql.Identifier(action)
        )
        for action in ENGAGEMENTS
    )
    query = pgsql.SQL(
        """
        WITH recent AS (
            SELECT event_id, user_id, pin_id, position, ts, day FROM events
            WHERE action = 'impression' AND day >= %(since)s
            ORDER BY ts DESC LIMIT %(limit)s
        )
        SELECT i.user_id, i.pin_id, i.position, i.ts AS event_timestamp, {labels}
        FROM recent i
        LEFT JOIN events a ON a.user_id = i.user_id AND a.pin_id = i.pin_id
             AND a.day = i.day AND a.action <> 'impression'
        GROUP BY i.event_id, i.user_id, i.pin_id, i.position, i.ts
        ORDER BY i.event_id
        """
    ).format(labels=labels)
    return copy_out(conn, query, {"since": since, "limit": limit})


def day_summary(conn: Connection, *, first: date, last: date) -> pd.DataFrame:
    """Rows per (day, action) in ``first..last``, for asset metadata."""
    rows = conn.execute(
        text(
            "SELECT day, action, count(*) AS events FROM events WHERE day BETWEEN :first AND :last "
            "GROUP BY day, action ORDER BY day, action"
        ),
        {"first": first, "last": last},
    )
    return pd.DataFrame(rows.all(), columns=["day", "action", "events"])


def popular_by_locale(conn: Connection, *, limit: int) -> pd.DataFrame:
    """country, language, pin_id of each locale's most engaged pins (clicks, saves), best first."""
    query = pgsql.SQL(
        """
        SELECT country, language, pin_id FROM (
            SELECT u.country, u.language, e.pin_id,
                   row_number() OVER (PARTITION BY u.country, u.language ORDER BY count(*) DESC, e.pin_id) AS rank
            FROM events e JOIN users u USING (user_id)
            WHERE e.action IN ('click', 'save', 'long_click') AND e.pin_id IS NOT NULL
            GROUP BY u.country, u.language, e.pin_id
        ) ranked WHERE rank <= %(limit)s ORDER BY country, language, rank
        """
    )
    return copy_out(conn, query, {"limit": limit})


def user_history(
    conn: Connection, *, user_id: int, limit: int, seen_days: int, max_excluded: int
) -> tuple[Engagements, list[int]]:
    """The user's latest ``limit`` clicks, saves and long clicks (``NEWEST_FIRST``), and the pins never
    to show them again (engaged with or hidden) or not again so soon (seen in the last ``seen_days``
    days of their own activity, so an old log still filters sensibly): the ``max_excluded`` of those
    the user met most recently, so a heavy user's list stays bounded.

    One statement over the user's events, read once; times come as microseconds since the epoch."""
    rows = fetch_all(
        conn,
        "WITH mine AS MATERIALIZED (SELECT event_id, pin_id, action, ts FROM events WHERE user_id = %(u)s) "
        "SELECT engaged, pin_id, action, (extract(epoch FROM ts) * 1000000)::bigint FROM ("
        f"(SELECT true AS engaged, pin_id, action, ts, event_id FROM mine WHERE {ENGAGED} "
        f" ORDER BY {NEWEST_FIRST} LIMIT %(limit)s) "
        "UNION ALL "
        "(SELECT false, pin_id, NULL::text, max(ts), NULL::bigint FROM mine WHERE pin_id IS NOT NULL AND ("
        " action IN ('hide', 'save', 'click', 'long_click') OR ts > (SELECT max(ts) FROM mine) - make_interval(days => %(days)s))"
        " GROUP BY pin_id ORDER BY max(ts) DESC, pin_id LIMIT %(max_excluded)s) "
        f") AS history ORDER BY engaged DESC, {NEWEST_FIRST}",
        {"u": user_id, "limit": limit, "days": seen_days, "max_excluded": max_excluded},
    )
    engaged = [row for row in rows if row[0]]
    excluded = [row[1] for row in rows if not row[0]]
    engagements = Engagements(
        np.array([row[1] for row in engaged], dtype=np.int64),
        np.array([row[2] for row in engaged], dtype=str),
        np.array([row[3] for row in engaged], dtype=np.int64),
    )
    return engagements, excluded


def search_engagements(conn: Connection) -> pd.DataFrame:
    """user_id, pin_id, action, surface, query, ts of engagements with search results."""
    query = pgsql.SQL(
        "SELECT user_id, pin_id, action, surface, query, ts FROM events "
        "WHERE surface = 'search' AND action IN ('click', 'save', 'long_click') AND query IS NOT NULL"
    )
    return copy_out(conn, query)
