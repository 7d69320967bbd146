"""The request path's statements: a user's history in one read, several HNSW searches in one,
and the request pool's per-connection settings."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.database import request_engine
from core.settings import get_settings
from models.interests import LATEST_ENGAGEMENTS
from sql.embeddings import (
    EMBEDDING_DIM,
    VectorSearch,
    all_user_vectors,
    load_pin_partition,
    load_user_vectors,
    nearest_pins_many,
    pin_vector,
    request_session,
)
from sql.events import latest_engagements, user_history
from sql.migrate import migrated_engine

USER = 9_000_001  # far from any generated user; every row below is rolled back
NOW = datetime.datetime(2026, 10, 31, 12, tzinfo=datetime.UTC)


def add_events(conn, rows: list[tuple[int | None, str, float]]) -> None:
    """Events of USER: (pin_id, action, days before NOW)."""
    for number, (pin_id, action, days_ago) in enumerate(rows):
        conn.execute(
            text("INSERT INTO events (event_id, user_id, pin_id, action, surface, ts) VALUES (:e, :u, :p, :a, 'homefeed', :ts)"),
            {"e": -1_000 - number, "u": USER, "p": pin_id, "a": action, "ts": NOW - datetime.timedelta(days=days_ago)},
        )


def test_user_history_gives_latest_engagements_and_exclusions_in_one_read(session_data_dir):
    with migrated_engine().connect() as conn:
        add_events(conn, [
            (1, "click", 0.1), (2, "save", 0.2), (3, "impression", 0.3), (4, "long_click", 1.0),
            (5, "hide", 30.0), (6, "impression", 6.0), (7, "impression", 8.0), (8, "click", 9.0),
            (None, "search", 0.05),
        ])
        engagements, excluded = user_history(conn, user_id=USER, limit=3, seen_days=7, max_excluded=100)
        everything, _ = user_history(conn, user_id=USER, limit=10, seen_days=7, max_excluded=100)
        conn.rollback()
    assert engagements.pin_ids.tolist() == [1, 2, 4]  # newest first, engagements only, at most `limit`
    assert engagements.actions.tolist() == ["click", "save", "long_click"]
    newest = NOW - datetime.timedelta(days=0.1)  # the same instant, in microseconds since the epoch
    assert engagements.ts_us[0] == int(newest.timestamp()) * 1_000_000
    assert everything.pin_ids.tolist() == [1, 2, 4, 8]
    # Engaged and hidden pins whatever their age (8 was clicked 9 days ago); anything else seen
    # within 7 days of the user's latest event (6, not 7).
    assert sorted(excluded) == [1, 2, 3, 4, 5, 6, 8]


def test_the_offline_latest_engagements_are_the_requests_ties_included(session_data_dir):
    # 60 clicks at three instants, 20 each: the latest 50 end inside a tie, which event ids break.
    days = [(0.1, 0.2, 0.3)[number % 3] for number in range(60)]
    pins = [(number * 37) % 97 + 1 for number in range(60)]  # neither in event-id nor in insertion order
    with migrated_engine().connect() as conn:
        add_events(conn, [(pin, "click", days_ago) for pin, days_ago in zip(pins, days, strict=True)])
        engagements, _ = user_history(conn, user_id=USER, limit=LATEST_ENGAGEMENTS, seen_days=7, max_excluded=100)
        offline = latest_engagements(conn, limit=LATEST_ENGAGEMENTS)
        conn.rollback()
    # Newest first, then the higher event id (add_events numbers them down from -1000).
    newest_first = [pin for _, _, pin in sorted(zip(days, range(60), pins, strict=True))][:LATEST_ENGAGEMENTS]
    assert engagements.pin_ids.tolist() == newest_first
    assert offline.loc[offline["user_id"] == USER, "pin_id"].tolist() == newest_first


def test_user_history_of_a_user_without_events_is_empty(session_data_dir):
    with migrated_engine().connect() as conn:
        engagements, excluded = user_history(conn, user_id=USER, limit=5, seen_days=7, max_excluded=100)
    assert len(engagements) == 0 and excluded == []


def test_searches_of_several_versions_run_in_one_statement_nearest_first(session_data_dir):
    rng = np.random.default_rng(0)
    pin_ids = np.arange(1, 301, dtype=np.int64)
    first, second = (rng.normal(size=(len(pin_ids), EMBEDDING_DIM)).astype(np.float32) for _ in range(2))
    queries = rng.normal(size=(3, EMBEDDING_DIM)).astype(np.float32)
    with migrated_engine().connect() as conn:
        for version, vectors in ((900_001, first), (900_002, second)):
            load_pin_partition(conn, version=version, pin_ids=pin_ids, vectors=vectors)
        conn.execute(text("SELECT set_config('hnsw.ef_search', '400', true)"))  # exact on 300 pins
        searches = [VectorSearch(900_001, queries[0], 5), VectorSearch(900_002, queries[1], 7), VectorSearch(900_001, queries[2], 3)]
        found = nearest_pins_many(conn, searches, exclude=[int(pin_ids[0]), int(pin_ids[1])])
        assert nearest_pins_many(conn, [], exclude=[]) == []
        conn.rollback()

    def exact(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
        cosine = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
        order = [row for row in np.argsort(-cosine) if row >= 2]  # the two excluded pins
        return pin_ids[order[:k]].tolist()

    assert [len(hits) for hits in found] == [5, 7, 3]
    assert [pin for pin, _ in found[0]] == exact(first, queries[0], 5)
    assert [pin for pin, _ in found[1]] == exact(second, queries[1], 7)
    assert [pin for pin, _ in found[2]] == exact(first, queries[2], 3)
    assert all(np.all(np.diff([distance for _, distance in hits]) >= 0) for hits in found)


def test_pin_and_user_vectors_are_stored_exactly_as_given(session_data_dir):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(5, EMBEDDING_DIM)).astype(np.float32)
    vectors[0, :3] = [1e-30, -3.4e38, np.float32(1) / 3]  # no decimal text of 6 digits holds these
    ids = np.array([7, 2**40, 3, 11, 5], dtype=np.int64)
    with migrated_engine().connect() as conn:
        assert load_pin_partition(conn, version=900_003, pin_ids=ids, vectors=vectors) == 5
        assert load_user_vectors(conn, version=900_003, user_ids=ids[:3], vectors=vectors[:3]) == 3
        stored_pins = [pin_vector(conn, version=900_003, pin_id=int(pin)) for pin in ids]
        user_ids, user_vectors = all_user_vectors(conn, version=900_003)
        with pytest.raises(ValueError, match="NaN or infinity"):
            load_user_vectors(conn, version=900_004, user_ids=ids[:1], vectors=np.full((1, EMBEDDING_DIM), np.nan))
        conn.rollback()
    np.testing.assert_array_equal(np.stack(stored_pins), vectors)
    assert user_ids.tolist() == sorted(ids[:3].tolist())
    np.testing.assert_array_equal(user_vectors, vectors[np.argsort(ids[:3])])


def test_request_pool_connections_carry_the_timeout_and_search_settings(session_data_dir):
    migrated_engine()  # the pgvector extension exists, also when this test runs alone
    session = request_session(statement_timeout_ms=50, ef_search=123)
    with request_engine(get_settings(), session).connect() as conn:
        conn.execute(text("SELECT '[1,2,3]'::vector"))  # pgvector loaded: its own settings take over
        assert conn.execute(text("SHOW hnsw.ef_search")).scalar_one() == "123"
        assert conn.execute(text("SHOW hnsw.iterative_scan")).scalar_one() == "relaxed_order"
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(1)"))
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # autocommit: nothing left to roll back
