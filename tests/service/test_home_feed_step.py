"""A home feed reads its user's history, the weights and its HNSW searches in one database step on
one connection, and gets what the separate steps (``request_context``, then ``home_candidates``)
read."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from service.request_context import request_context
from service.serving_state import ServingState
from service.surfaces import home_feed
from service.surfaces.home_feed import home_candidates, home_request
from service.user_context import UserContext
from sql.migrate import migrated_engine


def some_users(limit: int) -> list[int]:
    with migrated_engine().connect() as conn:
        rows = conn.execute(text("SELECT user_id FROM users ORDER BY user_id LIMIT :n"), {"n": limit}).all()
    return [row.user_id for row in rows]


@pytest.mark.parametrize("unknown", [False, True])
def test_one_step_reads_what_the_separate_steps_did(state: ServingState, unknown: bool) -> None:
    # Settle the planner's statistics first: on the tiny world's never-analyzed partitions a search
    # is an exact scan, and autovacuum's analyze landing between the two reads could turn the
    # second into an HNSW scan, which may differ at the k-th pin (seen once in a full run).
    with migrated_engine().connect() as conn:
        conn.execute(text("ANALYZE"))
    users = [max(some_users(1_000)) + 1] if unknown else some_users(12)
    fallbacks = set()
    for user_id in users:
        request, candidates, fallback = home_request(state, user_id=user_id, override=None)
        apart = request_context(state, user_id=user_id, override=None)
        candidates_apart, fallback_apart = home_candidates(state, apart.user)
        assert request.weights == apart.weights
        for name in ("pin_ids", "actions", "ts_us"):
            assert getattr(request.user.engagements, name).tolist() == getattr(apart.user.engagements, name).tolist()
        assert request.user.excluded_rows == apart.user.excluded_rows
        assert (fallback, candidates.degraded) == (fallback_apart, candidates_apart.degraded)
        # The same pins from each source (an HNSW scan may order pins at one distance either way).
        assert {source: set(rows) for source, rows in candidates.by_source.items()} == {
            source: set(rows) for source, rows in candidates_apart.by_source.items()
        }, f"user {user_id}"
        fallbacks.add(fallback)
    if unknown:
        assert fallbacks == {"cold_start"}
    else:
        assert None in fallbacks  # some of them personalized


@pytest.mark.parametrize("unknown", [False, True])
def test_a_home_feed_page_is_one_database_step(state: ServingState, monkeypatch, unknown: bool) -> None:
    submit, steps = state.database.submit, []

    def counted(work, /, *args, **kwargs):
        steps.append(work)
        return submit(work, *args, **kwargs)

    monkeypatch.setattr(state.database, "submit", counted)  # ``read`` submits too
    users = [max(some_users(1_000)) + 1] if unknown else some_users(12)
    for user_id in users:
        steps.clear()
        page = home_feed.home_feed(state, user_id=user_id, k=10)
        assert page.items and steps == [home_feed._home_feed_step], f"user {user_id}"


def test_planning_the_searches_does_not_count_against_the_database_deadline(state: ServingState, monkeypatch) -> None:
    deadline_s = state.database.deadline_ms / 1000
    plan = home_feed._planned

    def slow_plan(state: ServingState, user: UserContext) -> home_feed._Searches:
        time.sleep(deadline_s + 0.2)  # the request thread alone, past the whole deadline
        return plan(state, user)

    monkeypatch.setattr(home_feed, "_planned", slow_plan)
    request, candidates, fallback = home_request(state, user_id=some_users(1)[0], override=None)
    assert fallback is None and candidates.degraded == [] and request.user.degraded == ()
    assert "pinnersage" in candidates.by_source
    assert state.database.healthy()  # no outage recorded
