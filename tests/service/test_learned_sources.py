"""The learned representations on the served pages of the tiny world: the PinSAGE source proposes
pins of the user's recent topics, the two-tower prior scores candidates by the cosine its source
searches by, and the two-tower's user vector follows a new engagement."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import text

from models.ranker_similarities import cosines, similarity_columns
from orchestration.assets.ranking import SIMILARITIES
from service.request_context import request_context
from service.scoring import learned_user_vectors
from service.serving_state import ServingState
from service.surfaces.home_feed import home_candidates
from service.surfaces.ranked_page import scored_candidates
from sql.embeddings import nearest_pins
from sql.migrate import migrated_engine

RECENT = 5  # the user's latest engagements whose topics the PinSAGE source should follow
NEW_EVENT = -7_000_001  # far from any generated event id; deleted again by the test


def active_users(limit: int) -> list[int]:
    with migrated_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT user_id FROM events WHERE action IN ('click', 'save', 'long_click') "
                "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT :n"
            ),
            {"n": limit},
        ).all()
    return [row.user_id for row in rows]


def test_pinsage_source_serves_pins_of_the_users_recent_topics(state: ServingState) -> None:
    assert state.pinsage is not None and state.model_versions["pinsage"] == state.pinsage.version
    category = dict(zip(state.vectors.model.pin_ids.tolist(), state.pins.category.tolist()))
    catalogue = state.pins.category
    agreement, chance = [], []
    for user_id in active_users(20):
        user = request_context(state, user_id=user_id, override=None).user
        candidates, _ = home_candidates(state, user)
        served = [row for row, sources in candidates.sources.items() if "pinsage" in sources]
        assert served, f"user {user_id}: no pinsage candidates"
        topics = {category[pin] for pin in user.engagements.pin_ids[:RECENT].tolist()}
        agreement += [catalogue[row] in topics for row in served]
        chance.append(float(np.isin(catalogue, list(topics)).mean()))
    print(f"pinsage candidates on the user's latest topics: {np.mean(agreement):.3f}, chance {np.mean(chance):.3f}")
    assert np.mean(agreement) > 2.5 * np.mean(chance)


def test_the_served_ranker_reads_finite_learned_similarities(state: ServingState) -> None:
    assert state.encoder.similarities == SIMILARITIES
    user = request_context(state, user_id=active_users(1)[0], override=None).user
    candidates, _ = home_candidates(state, user)
    rows = np.fromiter(candidates.sources, dtype=np.int64)
    learned_user = learned_user_vectors(state, user)
    assert set(learned_user) == {*SIMILARITIES, "two_tower"}  # every kind has a user side for an engaged user
    pins = {name: state.learned[name].vectors[rows] for name in SIMILARITIES}
    columns = similarity_columns(SIMILARITIES, learned_user, pins, len(rows))
    assert np.isfinite(columns).all() and (np.abs(columns) > 0).any(axis=0).all()


def test_related_pins_include_the_pins_pinsage_neighbours(state: ServingState) -> None:
    from service.surfaces.related_pins import related_pins

    pin_id = int(state.vectors.model.pin_ids[int(np.flatnonzero(state.pinsage.vectors.any(axis=1))[0])])
    page = related_pins(state, pin_id=pin_id, k=50)
    assert page.degraded_sources == []
    assert "pinsage" in {source for item in page.items for source in item.sources}


def test_a_new_engagement_moves_the_two_tower_vector_and_its_candidates(state: ServingState) -> None:
    assert state.two_tower is not None
    user_id = active_users(1)[0]
    before = request_context(state, user_id=user_id, override=None).user
    assert before.two_tower_vector is not None
    # A pin of a topic the user never engaged with: saving it should move the vector.
    engaged = state.vectors.model.pin_rows(before.engagements.pin_ids)
    elsewhere = np.flatnonzero(~np.isin(state.pins.category, state.pins.category[engaged]))
    pin_id = int(state.vectors.model.pin_ids[elsewhere[0]])
    newest = pd.Timestamp(before.engagements.newest_us, unit="us", tz="UTC")
    with migrated_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (event_id, user_id, pin_id, action, surface, ts) "
                "VALUES (:e, :u, :p, 'save', 'homefeed', :ts)"
            ),
            {"e": NEW_EVENT, "u": user_id, "p": pin_id, "ts": newest + pd.Timedelta(minutes=1)},
        )
    try:
        after = request_context(state, user_id=user_id, override=None).user
        candidates_before, _ = home_candidates(state, before)
        candidates_after, _ = home_candidates(state, after)
    finally:
        with migrated_engine().begin() as conn:
            conn.execute(text("DELETE FROM events WHERE event_id = :e"), {"e": NEW_EVENT})
    assert after.engagements.pin_ids[0] == pin_id
    assert float(before.two_tower_vector @ after.two_tower_vector) < 0.99
    stored = state.two_tower.stored.vector(user_id)
    assert not np.allclose(after.two_tower_vector, stored)  # computed on request, not read back

    def two_tower_rows(candidates) -> set[int]:
        return {row for row, sources in candidates.sources.items() if "two_tower" in sources}

    assert two_tower_rows(candidates_before) != two_tower_rows(candidates_after)


def test_the_two_tower_prior_is_the_cosine_the_two_tower_source_searches_by(state: ServingState) -> None:
    assert state.two_tower is not None and state.learned["two_tower"].version == state.two_tower.version
    user = request_context(state, user_id=active_users(1)[0], override=None).user
    assert user.two_tower_vector is not None
    with migrated_engine().connect() as conn:
        found = nearest_pins(
            conn, version=state.two_tower.version, query=user.two_tower_vector, k=20, exclude=[], ef_search=400
        )
    rows = state.vectors.model.pin_rows(np.array([pin for pin, _ in found]))
    loaded = cosines(user.two_tower_vector, state.learned["two_tower"].vectors[rows])
    np.testing.assert_allclose(loaded, 1 - np.array([distance for _, distance in found]), atol=1e-5)
    candidates, _ = home_candidates(state, user)
    scored = scored_candidates(state, user, candidates)
    expected = cosines(user.two_tower_vector, state.learned["two_tower"].vectors[scored.rows])
    np.testing.assert_allclose(scored.similarities["two_tower"], expected, atol=1e-6)
    assert np.ptp(scored.similarities["two_tower"]) > 0
