"""Related pins: the subject pin's nearest engagement, text and PinSAGE vectors, its co-engaged
pins and Pixie walks from it, ranked with the pin standing in for the user's vector."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from models.engagements import Engagements
from service.candidates import Candidates, co_engagement_rows, pixie_rows, popular_rows
from service.hnsw_step import collected, searched_candidates
from service.request_context import request_context
from service.schemas import PagePublic
from service.scoring import learned_pin_vectors
from service.served_weights import WeightsOverride
from service.serving_state import ServingState
from service.surfaces.ranked_page import ranked_page
from sql.embeddings import VectorSearch, pin_vector

# A related-pins page ranks few, close candidates: the ranker knows engagement, not closeness
# to the subject pin, so relevance has to come from candidate generation.
RELATED_PER_SOURCE = 50
SEARCHED_SOURCES = ("related", "text", "pinsage")


class UnknownPinError(LookupError):
    """The pin is not in the serving catalogue."""


def related_pins(
    state: ServingState, *, pin_id: int, k: int, weights: WeightsOverride | None = None, user_id: int | None = None
) -> PagePublic:
    """Pins related to ``pin_id``, personalized for ``user_id`` when given; raises UnknownPinError
    for a pin outside the serving catalogue."""
    row = int(state.vectors.model.pin_rows(np.array([pin_id]))[0])
    if row < 0:
        raise UnknownPinError(f"pin {pin_id} is not in the catalogue")
    request = request_context(state, user_id=user_id, override=weights)
    exclude = request.user.excluded_rows | {row}
    subject = state.vectors.model.pin_vectors[row]
    pending = state.database.submit(_searched_near_pin, state, pin_id, row, exclude=exclude)
    candidates = collected(pending, SEARCHED_SOURCES)
    candidates.add(co_engagement_rows(state, np.array([row])), "co_engagement", exclude)
    seed = Engagements(np.array([pin_id], dtype=np.int64), np.array(["save"]), np.zeros(1, dtype=np.int64))
    candidates.add(pixie_rows(state, seed, k=RELATED_PER_SOURCE), "pixie", exclude)
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, request.user.locale), "popular", exclude)
    return ranked_page(
        state, request, candidates, surface="related", k=k, fallback=fallback, context_vector=subject,
        context_learned=learned_pin_vectors(state, row), pin_id=pin_id,
    )


def _searched_near_pin(
    conn: Connection, state: ServingState, pin_id: int, row: int, *, exclude: frozenset[int]
) -> Candidates:
    """The database step of a related-pins page: the pin's stored text vector, then the searches
    from it, from its engagement vector and from its PinSAGE vector, each when it is
    not zero."""
    subject = state.vectors.model.pin_vectors[row]
    searches = []
    if subject.any():
        searches.append(("related", VectorSearch(state.embedding_version, subject, RELATED_PER_SOURCE)))
    text_vector = pin_vector(conn, version=state.text.version, pin_id=pin_id)
    if text_vector is not None and text_vector.any():
        searches.append(("text", VectorSearch(state.text.version, text_vector, RELATED_PER_SOURCE)))
    pinsage = state.pinsage
    if pinsage is not None and pinsage.version is not None and pinsage.vectors[row].any():
        searches.append(("pinsage", VectorSearch(pinsage.version, pinsage.vectors[row], RELATED_PER_SOURCE)))
    return searched_candidates(conn, state, searches, sources=SEARCHED_SOURCES, exclude=exclude)
