"""The end every surface shares: rank the candidates, blend and assemble the page, and report what
it served and what was degraded."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from service.candidates import Candidates
from service.page import assemble_page
from service.request_context import RequestContext
from service.schemas import FeatureDefaultsPublic, PagePublic, RecommendedPin
from service.scoring import ScoredCandidates, learned_user_vectors, score
from service.serving_state import ServingState
from service.stages import note_page, stage
from service.user_context import UserContext


def ranked_page(
    state: ServingState,
    request: RequestContext,
    candidates: Candidates,
    *,
    surface: str,
    k: int,
    fallback: str | None,
    context_vector: np.ndarray | None = None,
    context_learned: Mapping[str, np.ndarray] | None = None,
    pin_id: int | None = None,
    query: str | None = None,
) -> PagePublic:
    """The ``k`` best of ``candidates`` for ``request``, as the page of ``surface``.

    ``context_vector`` stands in for the user's vector, and ``context_learned`` for the user side
    of the learned similarities, where the surface has a subject of its own (the pin of a
    related-pins page, the query of a search)."""
    user, served = request.user, request.weights
    scored = scored_candidates(
        state, user, candidates, context_vector=context_vector, context_learned=context_learned
    )
    settings = state.settings
    items = assemble_page(
        scored, state.pins, weights=served.weights, k=k, max_per_creator=settings.max_pins_per_creator,
        prior_weights=settings.prior_weights,
    )
    page = PagePublic(
        surface=surface, user_id=user.user_id, pin_id=pin_id, query=query, items=items, fallback=fallback,
        degraded_sources=[*served.degraded_sources, *user.degraded, *candidates.degraded],
        feature_defaults=_feature_defaults(state, user, items), weights=served.weights.as_dict(), arm=served.arm,
        model_versions=state.model_versions,
    )
    note_page(
        surface=surface, candidates=len(candidates.sources), fallback=fallback, degraded_sources=page.degraded_sources
    )
    return page


def scored_candidates(
    state: ServingState,
    user: UserContext,
    candidates: Candidates,
    *,
    context_vector: np.ndarray | None = None,
    context_learned: Mapping[str, np.ndarray] | None = None,
) -> ScoredCandidates:
    """The ranker's head probabilities of every candidate for ``user``, before blending."""
    with stage("ranking"):
        return score(
            state,
            candidates.sources,
            user_features=user.features,
            user_vector=user.vector if context_vector is None else context_vector,
            user_interest=user.interest,
            learned_user=learned_user_vectors(state, user) if context_learned is None else context_learned,
        )


def _feature_defaults(state: ServingState, user: UserContext, items: list[RecommendedPin]) -> FeatureDefaultsPublic:
    """Which of the page's user and pins were ranked on default features (missing online)."""
    pin_ids = np.array([item.pin_id for item in items], dtype=np.int64)
    rows = state.vectors.model.pin_rows(pin_ids)
    flagged = pin_ids[state.pins.default_features[rows]]
    return FeatureDefaultsPublic(user=list(user.feature_defaults), pin_ids=flagged.tolist())
