"""The home feed: candidates from the user's vectors, interests and recent pins, ranked for them.

A page is one database step on one connection: the user's history and the utility weights, then,
once this thread has planned the HNSW searches from them, the searches, which run in Postgres
while this thread walks Pixie (numba, GIL released). The step's deadline stands still while this
thread plans: only the database's time counts against it."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection

from service.candidates import (
    Candidates,
    co_engagement_rows,
    pinnersage_plan,
    pixie_rows,
    popular_rows,
    user_vector_searches,
)
from service.database_guard import DatabaseUnavailable, PendingRead
from service.hnsw_step import NamedSearches, collected, searched_candidates
from service.request_context import (
    RequestContext,
    StoredRequestData,
    context_of,
    read_request_data,
    warn_unavailable,
)
from service.schemas import PagePublic
from service.scoring import ScoredCandidates
from service.served_weights import WeightsOverride
from service.serving_state import ServingState
from service.stages import stage
from service.surfaces.ranked_page import ranked_page, scored_candidates
from service.user_context import UserContext


def home_feed(state: ServingState, *, user_id: int, k: int, weights: WeightsOverride | None = None) -> PagePublic:
    """The user's home feed; a user without history gets their locale's popular pins, flagged."""
    request, candidates, fallback = home_request(state, user_id=user_id, override=weights)
    return ranked_page(state, request, candidates, surface="homefeed", k=k, fallback=fallback)


def score_candidates(state: ServingState, *, user_id: int) -> ScoredCandidates:
    """Home-feed candidates of ``user_id`` scored by the ranker, before blending (for the tuner)."""
    request, candidates, _ = home_request(state, user_id=user_id, override=None)
    return scored_candidates(state, request.user, candidates)


@dataclass(frozen=True)
class _Searches:
    """What the request thread hands the database step once it knows the user: the searches and
    the pin rows they skip; and the PinnerSage rows stored with the user's medoids, not searched."""

    searches: NamedSearches
    exclude: frozenset[int]
    stored_pinnersage: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(source for source, _ in self.searches))


def home_request(
    state: ServingState, *, user_id: int, override: WeightsOverride | None
) -> tuple[RequestContext, Candidates, str | None]:
    """The request's context, its candidates and, when they are popular pins instead, why: one
    database step, one connection. When the database cannot give the history in time, the user
    is served without it, as ``request_context`` does."""
    stored_out: Future[StoredRequestData] = Future()
    searches_in: Future[_Searches] = Future()
    pending = state.database.submit(_home_feed_step, state, user_id, stored_out, searches_in)
    planned = _Searches([], frozenset())
    try:
        try:
            with stage("user_context"):
                stored = pending.handed_over(stored_out)
        except DatabaseUnavailable as error:
            warn_unavailable(user_id, error)
            stored = None
        request = context_of(state, stored, user_id=user_id, override=override)
        planned = _planned(state, request.user)
    finally:
        pending.hand_in(searches_in, planned)  # an empty plan ends the step
    return request, *_gathered(state, request.user, pending, planned)


def home_candidates(state: ServingState, user: UserContext) -> tuple[Candidates, str | None]:
    """The candidates of a user whose context was read apart (the funnel evaluation, tests), and
    when they are popular pins instead, why."""
    planned = _planned(state, user)
    pending = state.database.submit(_searched, state, planned) if planned.searches else None
    return _gathered(state, user, pending, planned)


def _planned(state: ServingState, user: UserContext) -> _Searches:
    """The user's HNSW searches: their own vectors' and their PinnerSage medoids' unless stored with
    them (none when cold)."""
    if user.is_cold:
        return _Searches([], frozenset())
    pinnersage = pinnersage_plan(state, user)
    searches = [*user_vector_searches(state, user), *pinnersage.searches]
    return _Searches(searches, user.excluded_rows, pinnersage.rows)


def _gathered(
    state: ServingState, user: UserContext, pending: PendingRead[Candidates] | None, planned: _Searches
) -> tuple[Candidates, str | None]:
    """The searched candidates of ``pending`` (None: no searches) with the in-memory sources',
    walked meanwhile, and the stored PinnerSage ones."""
    candidates = Candidates()
    fallback = None
    if not user.is_cold:
        seeds = state.vectors.model.pin_rows(user.engagements.pin_ids)
        with stage("pixie"):
            walked = pixie_rows(state, user.engagements)
        with stage("retrieval"):
            candidates = Candidates() if pending is None else collected(pending, planned.sources)
            candidates.add(planned.stored_pinnersage, "pinnersage", user.excluded_rows)
            candidates.add(co_engagement_rows(state, seeds), "co_engagement", user.excluded_rows)
        candidates.add(walked, "pixie", user.excluded_rows)
    if user.is_cold:
        fallback = "history_unavailable" if "user_history" in user.degraded else "cold_start"
    elif not candidates.sources:
        fallback = "no_candidates"
    if fallback:
        candidates.add(popular_rows(state, user.locale), "popular", user.excluded_rows)
    return candidates, fallback


def _home_feed_step(
    conn: Connection,
    state: ServingState,
    user_id: int,
    stored_out: Future[StoredRequestData],
    searches_in: Future[_Searches],
) -> Candidates:
    """The database step of a home feed: the user's history and the weights, handed to the
    request thread; then the searches it plans from them, on the same connection."""
    stored_out.set_result(
        read_request_data(
            conn, user_id=user_id, seen_days=state.settings.seen_days, max_excluded=state.settings.max_excluded_pins
        )
    )
    return _searched(conn, state, searches_in.result())


def _searched(conn: Connection, state: ServingState, planned: _Searches) -> Candidates:
    if not planned.searches:
        return Candidates()
    return searched_candidates(conn, state, planned.searches, sources=planned.sources, exclude=planned.exclude)
