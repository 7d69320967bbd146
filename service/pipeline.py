"""One pipeline for three surfaces: candidates -> ranker -> utility blend -> page.

Home feed, related pins and search differ only in where candidates come from and whose
features give context; scoring, blending and page assembly are shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.store import fill_missing_features, online_features
from models.interests import LATEST_ENGAGEMENTS, interest_vectors
from models.utility import UtilityWeights
from models.text_tower import embed_texts
from service.candidates import (
    Candidates,
    co_engagement_rows,
    nearest_rows,
    pinnersage_rows,
    pixie_rows,
    popular_rows,
)
from service.experiments import weights_for
from service.page import assemble_page
from service.schemas import PagePublic
from service.scoring import ScoredCandidates, score
from service.state import ServingState
from sql.catalogue import user_locale
from sql.embeddings import pin_vector, user_vector
from sql.events import excluded_pins, recent_engagements
from sql.utility_weights import default_weights, list_arms

# A related-pins page ranks few, close candidates: the ranker knows engagement, not closeness
# to the subject pin, so relevance has to come from candidate generation.
RELATED_PER_SOURCE = 50
# Search ranks only the closest matches, a few per slot: relevance comes from retrieval.
SEARCH_CANDIDATES_PER_SLOT = 3
MIN_SEARCH_CANDIDATES = 30
QUERY_CONTEXT_PINS = 20  # the query's best text matches stand for it in the engagement space


class UnknownPinError(LookupError):
    """The pin is not in the serving catalogue."""


@dataclass(frozen=True)
class UserContext:
    """What the request knows about its user (nothing for an anonymous or unknown one)."""

    user_id: int | None
    locale: tuple[str, str] | None
    vector: np.ndarray | None
    features: pd.DataFrame
    engagements: pd.DataFrame
    excluded_rows: frozenset[int]
    interest: np.ndarray  # share of engagement per category of the pin table's vocabulary

    @property
    def is_cold(self) -> bool:
        return self.engagements.empty


def user_context(state: ServingState, user_id: int | None) -> UserContext:
    """Online features, vector, recent engagements and exclusions of ``user_id``."""
    lookup_id = -1 if user_id is None else user_id
    features = fill_missing_features(online_features(state.store, user_ids=[lookup_id]), state.defaults)
    if user_id is None:
        nobody = pd.DataFrame(columns=["pin_id", "action", "ts"])
        return UserContext(None, None, None, features, nobody, frozenset(), _interest(state, nobody))
    with state.engine.connect() as conn:
        locale = user_locale(conn, user_id=user_id)
        vector = user_vector(conn, version=state.embedding_version, user_id=user_id)
        engagements = recent_engagements(conn, user_id=user_id, limit=LATEST_ENGAGEMENTS)
        excluded = excluded_pins(conn, user_id=user_id, seen_days=state.settings.seen_days)
    rows = state.vectors.model.pin_rows(np.asarray(excluded, dtype=np.int64))
    excluded_rows = frozenset(rows[rows >= 0].tolist())
    return UserContext(user_id, locale, vector, features, engagements, excluded_rows, _interest(state, engagements))


def _interest(state: ServingState, engagements: pd.DataFrame) -> np.ndarray:
    rows = state.vectors.model.pin_rows(engagements["pin_id"].to_numpy(dtype=np.int64))
    codes = state.pins.category_code[rows[rows >= 0]]
    return interest_vectors(np.zeros(len(codes), dtype=np.int64), codes, 1, len(state.pins.categories))[0]


def served_weights(state: ServingState, *, user_id: int) -> tuple[UtilityWeights, str | None]:
    """The stored default weights, or those of the user's experiment arm, and the arm's name."""
    with state.engine.connect() as conn:
        return weights_for(user_id, default=default_weights(conn), arms=list_arms(conn))


def score_candidates(state: ServingState, *, user_id: int) -> ScoredCandidates:
    """Home-feed candidates of ``user_id`` scored by the ranker, before blending (for the tuner)."""
    user = user_context(state, user_id)
    candidates, _ = _home_candidates(state, user)
    return score(
        state, candidates.sources, user_features=user.features, user_vector=user.vector, user_interest=user.interest
    )


def _home_candidates(state: ServingState, user: UserContext) -> tuple[Candidates, str | None]:
    candidates = Candidates()
    fallback = None
    if not user.is_cold:
        seeds = state.vectors.model.pin_rows(user.engagements["pin_id"].to_numpy(dtype=np.int64))
        excluded_ids = state.vectors.model.pin_ids[sorted(user.excluded_rows)].tolist()
        with state.engine.connect() as conn:
            if user.vector is not None:
                candidates.attempt(
                    "embedding", conn,
                    lambda: nearest_rows(state, conn, user.vector, version=state.embedding_version, exclude_ids=excluded_ids),
                    user.excluded_rows,
                )
            candidates.attempt(
                "pinnersage", conn,
                lambda: pinnersage_rows(state, conn, user.engagements, exclude_ids=excluded_ids),
                user.excluded_rows,
            )
        candidates.add(co_engagement_rows(state, seeds), "co_engagement", user.excluded_rows)
        candidates.add(pixie_rows(state, user.engagements), "pixie", user.excluded_rows)
    if user.is_cold:
        fallback = "cold_start"
    elif not candidates.sources:
        fallback = "no_candidates"
    if fallback:
        candidates.add(popular_rows(state, user.locale), "popular", user.excluded_rows)
    return candidates, fallback


def _page(
    state: ServingState,
    candidates: Candidates,
    user: UserContext,
    *,
    k: int,
    weights: UtilityWeights,
    context_vector: np.ndarray | None = None,
) -> list:
    """Rank and assemble; ``context_vector`` stands in for the user's vector where the surface
    has a subject of its own (the pin of a related-pins page, the query of a search)."""
    vector = user.vector if context_vector is None else context_vector
    scored = score(
        state, candidates.sources, user_features=user.features, user_vector=vector, user_interest=user.interest
    )
    return assemble_page(scored, state.pins, weights=weights, k=k, max_per_creator=state.settings.max_pins_per_creator)


def home_feed(state: ServingState, *, user_id: int, k: int, weights: UtilityWeights, arm: str | None = None) -> PagePublic:
    """The user's home feed; a user without history gets their locale's popular pins, flagged."""
    user = user_context(state, user_id)
    candidates, fallback = _home_candidates(state, user)
    return PagePublic(
        surface="homefeed", user_id=user_id, items=_page(state, candidates, user, k=k, weights=weights),
        fallback=fallback, degraded_sources=candidates.degraded, weights=weights.as_dict(), arm=arm,
        model_versions=state.model_versions,
    )


def related_pins(
    state: ServingState, *, pin_id: int, k: int, weights: UtilityWeights, user_id: int | None = None
) -> PagePublic:
    """Pins related to ``pin_id``: its nearest engagement and text vectors, co-engaged pins and
    Pixie walks from it."""
    row = int(state.vectors.model.pin_rows(np.array([pin_id]))[0])
    if row < 0:
        raise UnknownPinError(f"pin {pin_id} is not in the catalogue")
    user = user_context(state, user_id)
    exclude = user.excluded_rows | {row}
    candidates = Candidates()
    with state.engine.connect() as conn:
        candidates.attempt(
            "related", conn,
            lambda: nearest_rows(
                state, conn, state.vectors.model.pin_vectors[row], version=state.embedding_version,
                exclude_ids=[pin_id], k=RELATED_PER_SOURCE,
            ),
            exclude,
        )
        candidates.attempt(
            "text", conn,
            lambda: nearest_rows(
                state, conn, pin_vector(conn, version=state.text.version, pin_id=pin_id),
                version=state.text.version, exclude_ids=[pin_id], k=RELATED_PER_SOURCE,
            ),
            exclude,
        )
    candidates.add(co_engagement_rows(state, np.array([row])), "co_engagement", exclude)
    seed = pd.DataFrame({"pin_id": [pin_id], "action": ["save"], "ts": [pd.Timestamp.now(tz="UTC")]})
    candidates.add(pixie_rows(state, seed, k=RELATED_PER_SOURCE), "pixie", exclude)
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, user.locale), "popular", exclude)
    return PagePublic(
        surface="related", user_id=user_id, pin_id=pin_id,
        items=_page(state, candidates, user, k=k, weights=weights, context_vector=state.vectors.model.pin_vectors[row]),
        fallback=fallback, degraded_sources=candidates.degraded, weights=weights.as_dict(),
        model_versions=state.model_versions,
    )


def search(
    state: ServingState, *, query: str, k: int, weights: UtilityWeights, user_id: int | None = None
) -> PagePublic:
    """Pins matching ``query``: the query tower's vector against the pins' text index, then ranked."""
    user = user_context(state, user_id)
    vector = embed_texts(state.text.model, [query])[0]
    search_depth = max(SEARCH_CANDIDATES_PER_SLOT * k, MIN_SEARCH_CANDIDATES)
    candidates = Candidates()
    with state.engine.connect() as conn:
        candidates.attempt(
            "text", conn,
            lambda: nearest_rows(state, conn, vector, version=state.text.version, exclude_ids=[], k=search_depth),
            frozenset(),
        )
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, user.locale), "popular")
    return PagePublic(
        surface="search", user_id=user_id, query=query,
        items=_page(state, candidates, user, k=k, weights=weights, context_vector=_query_context(state, candidates)),
        fallback=fallback, degraded_sources=candidates.degraded, weights=weights.as_dict(),
        model_versions=state.model_versions,
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
