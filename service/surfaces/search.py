"""Search: the query tower's vector against the pins' text index, ranked with the query's best
matches standing in for the user's vector."""

from __future__ import annotations

import numpy as np

from service.candidates import Candidates, popular_rows
from service.hnsw_step import collected, searched_candidates
from service.request_context import request_context
from service.schemas import PagePublic
from service.served_weights import WeightsOverride
from service.serving_state import ServingState
from service.surfaces.ranked_page import ranked_page
from sql.embeddings import VectorSearch

# Search ranks only the closest matches, a few per slot: relevance comes from retrieval.
SEARCH_CANDIDATES_PER_SLOT = 3
MIN_SEARCH_CANDIDATES = 30
QUERY_CONTEXT_PINS = 20  # the query's best text matches stand for it in the engagement space
SEARCHED_SOURCES = ("text",)


def search(
    state: ServingState, *, query: str, k: int, weights: WeightsOverride | None = None, user_id: int | None = None
) -> PagePublic:
    """Pins matching ``query``, personalized for ``user_id`` when given: ranked for them, and without
    the pins they are not to be shown (engaged with or hidden, or seen lately; as on every surface)."""
    request = request_context(state, user_id=user_id, override=weights)
    exclude = request.user.excluded_rows
    vector = state.text.model.embed([query])[0]
    depth = max(SEARCH_CANDIDATES_PER_SLOT * k, MIN_SEARCH_CANDIDATES)
    searches = [("text", VectorSearch(state.text.version, vector, depth))] if vector.any() else []
    pending = state.database.submit(searched_candidates, state, searches, sources=SEARCHED_SOURCES, exclude=exclude)
    candidates = collected(pending, SEARCHED_SOURCES)
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, request.user.locale), "popular", exclude)
    return ranked_page(
        state, request, candidates, surface="search", k=k, fallback=fallback,
        context_vector=_query_context(state, candidates), query=query,
    )


def _query_context(state: ServingState, candidates: Candidates) -> np.ndarray | None:
    """The query in the engagement space: the mean vector of its best text matches.

    The ranker learned how closeness in that space predicts engagement; this lets it rank
    search results by closeness to the query instead of by popularity alone.
    """
    best = [row for row, sources in candidates.sources.items() if "text" in sources][:QUERY_CONTEXT_PINS]
    if not best:
        return None
    mean = state.vectors.model.pin_vectors[best].mean(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else None
