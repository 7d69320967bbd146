"""The home feed: candidates from the user's vectors, interests and recent pins, ranked for them."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from service.candidates import (
    Candidates,
    co_engagement_rows,
    pinnersage_searches,
    pixie_rows,
    popular_rows,
    user_vector_searches,
)
from service.hnsw_step import NamedSearches, collected, searched_candidates
from service.request_context import request_context
from service.schemas import PagePublic
from service.scoring import ScoredCandidates
from service.served_weights import WeightsOverride
from service.serving_state import ServingState
from service.stages import stage
from service.surfaces.ranked_page import ranked_page, scored_candidates
from service.user_context import UserContext


def home_feed(state: ServingState, *, user_id: int, k: int, weights: WeightsOverride | None = None) -> PagePublic:
    """The user's home feed; a user without history gets their locale's popular pins, flagged."""
    request = request_context(state, user_id=user_id, override=weights)
    candidates, fallback = home_candidates(state, request.user)
    return ranked_page(state, request, candidates, surface="homefeed", k=k, fallback=fallback)


def score_candidates(state: ServingState, *, user_id: int) -> ScoredCandidates:
    """Home-feed candidates of ``user_id`` scored by the ranker, before blending (for the tuner)."""
    user = request_context(state, user_id=user_id, override=None).user
    candidates, _ = home_candidates(state, user)
    return scored_candidates(state, user, candidates)


def home_candidates(state: ServingState, user: UserContext) -> tuple[Candidates, str | None]:
    """The user's candidates and, when they are popular pins instead, why."""
    candidates = Candidates()
    fallback = None
    if not user.is_cold:
        seeds = state.vectors.model.pin_rows(user.engagements["pin_id"].to_numpy(dtype=np.int64))
        vector_searches = user_vector_searches(state, user)
        sources = [*(source for source, _ in vector_searches), "pinnersage"]
        # The HNSW searches run in Postgres while this thread walks Pixie (numba, GIL released).
        pending = state.database.submit(_searched_for_user, state, user, vector_searches, sources=sources)
        with stage("pixie"):
            walked = pixie_rows(state, user.engagements)
        with stage("retrieval"):
            candidates = collected(pending, sources)
            candidates.add(co_engagement_rows(state, seeds), "co_engagement", user.excluded_rows)
        candidates.add(walked, "pixie", user.excluded_rows)
    if user.is_cold:
        fallback = "history_unavailable" if "user_history" in user.degraded else "cold_start"
    elif not candidates.sources:
        fallback = "no_candidates"
    if fallback:
        candidates.add(popular_rows(state, user.locale), "popular", user.excluded_rows)
    return candidates, fallback


def _searched_for_user(
    conn: Connection, state: ServingState, user: UserContext, vector_searches: NamedSearches, *, sources: list[str]
) -> Candidates:
    """The database step of a home feed: the user's vector searches and, planned here so that the
    medoids are found while the request thread walks Pixie, one search per PinnerSage medoid."""
    searches = [*vector_searches, *pinnersage_searches(state, user.engagements)]
    return searched_candidates(conn, state, searches, sources=sources, exclude=user.excluded_rows)
