"""PinnerSage medoids computed at materialization: the home feed reads them instead of clustering
per request (stored medoids unlike clustering's are the ones searched), they are the medoids a
request would compute, their nearest pins found with them are served without a search and are
among what the request's own search finds, and a user's engagement since the materialization has
the request compute and search them again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corkboard.materialize import dagster_instance, materialize_and_activate
from models.engagements import Engagements
from models.pinnersage import MEDOID_CANDIDATES, SERVED_MEDOIDS, medoid_pins
from orchestration.assets.embeddings import pinnersage_medoids
from orchestration.definitions import RESOURCES
from service.app import create_app
from service.candidates import pinnersage_plan, pinnersage_searches
from service.request_context import request_context
from service.serving_state import ServingState
from service.user_context import UserContext
from sql.embeddings import nearest_pins_many, search_settings
from sql.migrate import migrated_engine


@pytest.fixture(scope="module")
def state(materialized_tiny) -> Iterator[ServingState]:
    # For the serving embedding, whichever test module built it last.
    result = materialize_and_activate([pinnersage_medoids], resources=RESOURCES, instance=dagster_instance())
    assert result.success
    with TestClient(create_app()) as client:
        yield client.app.state.serving


def engaged_users() -> list[int]:
    with migrated_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT user_id FROM events WHERE action IN ('click', 'save', 'long_click') ORDER BY user_id")
        ).all()
    return [row.user_id for row in rows]


def clustered_now(state: ServingState, user: UserContext) -> np.ndarray:
    return medoid_pins(user.engagements, state.vectors.model.pin_vectors_for(user.engagements.pin_ids))


def searched_vectors(state: ServingState, user: UserContext) -> list[list[float]]:
    return [search.vector.tolist() for _, search in pinnersage_searches(state, user)]


def test_the_stored_medoids_are_the_ones_each_request_would_compute(state: ServingState) -> None:
    assert state.medoids is not None
    users = engaged_users()
    assert set(users) <= set(state.medoids.user_ids.tolist())
    for user_id in users[:: max(1, len(users) // 40)]:
        user = request_context(state, user_id=user_id, override=None).user
        stored = state.medoids.of(user_id, newest_us=user.engagements.newest_us, engagements=len(user.engagements))
        assert stored is not None, f"user {user_id}: medoids stored for other engagements"
        assert stored.tolist() == clustered_now(state, user).tolist(), f"user {user_id}"
        assert searched_vectors(state, user) == state.vectors.model.pin_vectors_for(stored).tolist()


def test_the_medoids_nearest_pins_are_served_without_a_search(state: ServingState) -> None:
    stored_total, found_total = 0, 0
    for user_id in engaged_users()[::5]:
        user = request_context(state, user_id=user_id, override=None).user
        plan = pinnersage_plan(state, user)
        if not len(plan.rows):
            continue
        assert plan.searches == []
        # What the request would search now, skipping every pin the user is not to be shown.
        searches = [search for _, search in pinnersage_searches(state, user)]
        excluded = state.vectors.model.pin_ids[sorted(user.excluded_rows)].tolist()
        with migrated_engine().connect() as conn:
            for name, value in search_settings(state.settings.hnsw_ef_search).items():  # as requests search
                conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
            searched = {pin for hits in nearest_pins_many(conn, searches, exclude=excluded) for pin, _ in hits}
        stored = {int(state.vectors.model.pin_ids[row]) for row in plan.rows.tolist() if row not in user.excluded_rows}
        stored_total, found_total = stored_total + len(stored), found_total + len(stored & searched)
    # Both are HNSW searches (the stored one for more pins, before the request's exclusions), so a
    # pin near the 50th place may differ; otherwise they agree.
    assert stored_total >= 5 * MEDOID_CANDIDATES and found_total >= 0.99 * stored_total, (found_total, stored_total)


def other_engaged_pins(state: ServingState, user: UserContext) -> np.ndarray:
    """The user's engaged pins with a vector that clustering does not pick, as many as are served."""
    clustered = set(clustered_now(state, user).tolist())
    pins = np.array([pin for pin in dict.fromkeys(user.engagements.pin_ids.tolist()) if pin not in clustered])
    with_vector = state.vectors.model.pin_vectors_for(pins).any(axis=1) if len(pins) else np.empty(0, dtype=bool)
    return pins[with_vector][:SERVED_MEDOIDS]


def test_the_home_feed_searches_from_the_stored_medoids_without_clustering(state: ServingState) -> None:
    users = (request_context(state, user_id=user_id, override=None).user for user_id in engaged_users())
    user = next(user for user in users if len(other_engaged_pins(state, user)))
    stored = other_engaged_pins(state, user)
    # The user's stored medoids become pins that clustering does not give.
    pin_ids = state.medoids.pin_ids.copy()
    row = int(np.searchsorted(state.medoids.user_ids, user.user_id))
    pin_ids[row] = -1
    pin_ids[row, : len(stored)] = stored
    served = dataclasses.replace(state, medoids=dataclasses.replace(state.medoids, pin_ids=pin_ids))
    assert searched_vectors(served, user) == state.vectors.model.pin_vectors_for(stored).tolist()


def test_an_engagement_since_the_materialization_is_clustered_on_request(state: ServingState) -> None:
    user = request_context(state, user_id=engaged_users()[0], override=None).user
    before = user.engagements
    pin_id = state.vectors.model.pin_ids[state.vectors.model.engaged_pins()][:1]
    # A save an hour after the newest engagement, the oldest one falling out of the latest.
    moved = dataclasses.replace(
        user,
        engagements=Engagements(
            np.r_[pin_id, before.pin_ids[:-1]], np.r_[["save"], before.actions[:-1]],
            np.r_[[before.newest_us + 3_600_000_000], before.ts_us[:-1]],
        ),
    )
    assert state.medoids.of(user.user_id, newest_us=moved.engagements.newest_us, engagements=len(before)) is None
    assert not len(pinnersage_plan(state, moved).rows)  # searched again, not read
    expected = state.vectors.model.pin_vectors_for(clustered_now(state, moved)).tolist()
    assert searched_vectors(state, moved) == expected
