"""One pipeline for three surfaces: candidates -> ranker -> utility blend -> page.

Home feed, related pins and search differ only in where candidates come from and whose
features give context; scoring, blending and page assembly are shared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from features.store import fill_missing_features, online_features
from models.interests import LATEST_ENGAGEMENTS, interest_vectors
from models.text_tower import embed_texts
from models.utility import UtilityWeights
from service.candidates import (
    Candidates,
    co_engagement_rows,
    pinnersage_searches,
    pixie_rows,
    popular_rows,
    searched_rows,
    user_vector_searches,
)
from service.database_guard import DatabaseUnavailable, PendingRead, describe
from service.experiments import weights_for
from service.page import assemble_page
from service.schemas import FeatureDefaultsPublic, PagePublic, RecommendedPin
from service.scoring import ScoredCandidates, score
from service.stages import note_page, stage
from service.state import ServingState, missing_views
from sql.embeddings import VectorSearch, pin_vector
from sql.events import user_history
from sql.utility_weights import default_weights, list_arms

# A related-pins page ranks few, close candidates: the ranker knows engagement, not closeness
# to the subject pin, so relevance has to come from candidate generation.
RELATED_PER_SOURCE = 50
# Search ranks only the closest matches, a few per slot: relevance comes from retrieval.
SEARCH_CANDIDATES_PER_SLOT = 3
MIN_SEARCH_CANDIDATES = 30
QUERY_CONTEXT_PINS = 20  # the query's best text matches stand for it in the engagement space

log = logging.getLogger("corkboard.service")
NamedSearches = list[tuple[str, VectorSearch]]
SearchPlan = Callable[[Connection], NamedSearches]  # a page's HNSW searches, planned on the database thread


class UnknownPinError(LookupError):
    """The pin is not in the serving catalogue."""


@dataclass(frozen=True)
class UserContext:
    """What the request knows about its user (nothing for an anonymous or unknown one)."""

    user_id: int | None
    locale: tuple[str, str] | None
    vector: np.ndarray | None
    features: np.ndarray  # the ranker's encoded user block, [1, user_dim]
    engagements: pd.DataFrame
    excluded_rows: frozenset[int]
    interest: np.ndarray  # share of engagement per category of the pin table's vocabulary
    feature_defaults: tuple[str, ...] = ()  # the user's feature views missing online, served as defaults
    degraded: tuple[str, ...] = ()  # "user_history" when the database could not give it
    weights: tuple[UtilityWeights, str | None] | None = None  # the stored weights of the user's arm, when read

    @property
    def is_cold(self) -> bool:
        return self.engagements.empty


NOBODY = pd.DataFrame({"pin_id": pd.Series(dtype=np.int64), "action": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[ns, UTC]")})


def user_context(state: ServingState, user_id: int | None, *, with_weights: bool = False) -> UserContext:
    """Features, locale, vector, recent engagements and exclusions of ``user_id``, and with
    ``with_weights`` the stored utility weights of their experiment arm.

    Features and locale come from the user table cached at load (the online store, read per
    request, for a user who arrived since); the vector from the serving embedding; the latest
    engagements, exclusions and weights from the database, in one step. When the database cannot
    answer in time, the user is served as one without history, with "user_history" degraded."""
    with stage("feature_join"):
        features, missing, locale = user_features(state, user_id)
    if user_id is None:
        return UserContext(None, None, None, features, NOBODY, frozenset(), _interest(state, NOBODY))
    try:
        with stage("user_context"):
            engagements, excluded, weights = state.database.read(partial(_stored_user_data, state, user_id, with_weights))
    except DatabaseUnavailable as error:
        log.warning("user history of %s unavailable: %s", user_id, error)
        return UserContext(
            user_id, locale, None, features, NOBODY, frozenset(), _interest(state, NOBODY), missing, ("user_history",)
        )
    vector = state.vectors.model.user_vectors_for(np.array([user_id]))[0]
    rows = state.vectors.model.pin_rows(np.asarray(excluded, dtype=np.int64))
    excluded_rows = frozenset(rows[rows >= 0].tolist())
    return UserContext(
        user_id, locale, vector if vector.any() else None, features, engagements, excluded_rows,
        _interest(state, engagements), missing, weights=weights,
    )


def user_features(state: ServingState, user_id: int | None) -> tuple[np.ndarray, tuple[str, ...], tuple[str, str] | None]:
    """The user's encoded feature block, the feature views served as defaults, and the locale:
    from the user table cached at load, else (a user who arrived since) from the online store."""
    row = None if user_id is None else state.users.row(user_id)
    if row is not None:
        missing = tuple(view for view, absent in zip(state.users.views, state.users.missing[row]) if absent)
        return state.users.features[row : row + 1], missing, state.users.locale(row)
    online = online_features(state.store, user_ids=[-1 if user_id is None else user_id])
    features = state.encoder.encode_users(fill_missing_features(online, state.defaults))
    if user_id is None:
        return features, (), None
    missing = tuple(view for view, absent in missing_views(online).iloc[0].items() if absent)
    return features, missing, _profile_locale(online)


def _stored_user_data(
    state: ServingState, user_id: int, with_weights: bool, conn: Connection
) -> tuple[pd.DataFrame, list[int], tuple[UtilityWeights, str | None] | None]:
    """The user's latest engagements, the pins to exclude for them and (when asked) their arm's
    utility weights, from the database."""
    engagements, excluded = user_history(conn, user_id=user_id, limit=LATEST_ENGAGEMENTS, seen_days=state.settings.seen_days)
    weights = weights_for(user_id, default=default_weights(conn), arms=list_arms(conn)) if with_weights else None
    return engagements, excluded, weights


def _profile_locale(online: pd.DataFrame) -> tuple[str, str] | None:
    """The user's (country, language) from their online profile, if it has both."""
    country, language = online["user_profile__country"].iloc[0], online["user_profile__language"].iloc[0]
    return None if pd.isna(country) or pd.isna(language) else (str(country), str(language))


def _interest(state: ServingState, engagements: pd.DataFrame) -> np.ndarray:
    rows = state.vectors.model.pin_rows(engagements["pin_id"].to_numpy(dtype=np.int64))
    codes = state.pins.category_code[rows[rows >= 0]]
    return interest_vectors(np.zeros(len(codes), dtype=np.int64), codes, 1, len(state.pins.categories))[0]


def _submit_searches(
    state: ServingState, names: Sequence[str], plan: SearchPlan, exclude: frozenset[int]
) -> PendingRead[Candidates]:
    """Start a page's HNSW searches (sources ``names``) in one statement, within the database
    deadline; the request collects them with ``_collected``. When the statement fails or runs out
    of time, every one of ``names`` is degraded."""

    def run(conn: Connection) -> Candidates:
        found = Candidates()  # filled on the database thread, handed over only when in time
        try:
            for source, rows in searched_rows(state, conn, plan(conn), exclude_rows=exclude):
                found.add(rows, source, exclude)
        except SQLAlchemyError as error:
            log.warning("candidate sources %s failed: %s", ", ".join(names), describe(error))
            found.degraded.extend(names)
        return found

    return state.database.submit(run)


def _searched(state: ServingState, names: Sequence[str], plan: SearchPlan, exclude: frozenset[int]) -> Candidates:
    """The candidates of a page's HNSW searches, waited for at once; see ``_submit_searches``."""
    return _collected(_submit_searches(state, names, plan, exclude), names)


def _collected(pending: PendingRead[Candidates], names: Sequence[str]) -> Candidates:
    """The started searches' candidates; every source is degraded when the database is unavailable."""
    try:
        return pending.result()
    except DatabaseUnavailable as error:
        log.warning("database sources %s unavailable: %s", ", ".join(names), error)
        return Candidates(degraded=list(names))


def _feature_defaults(state: ServingState, user: UserContext, items: list[RecommendedPin]) -> FeatureDefaultsPublic:
    """Which of the page's user and pins were ranked on default features (missing online)."""
    pin_ids = np.array([item.pin_id for item in items], dtype=np.int64)
    rows = state.vectors.model.pin_rows(pin_ids)
    return FeatureDefaultsPublic(user=list(user.feature_defaults), pin_ids=pin_ids[state.pins.default_features[rows]].tolist())


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
        searches = user_vector_searches(state, user.user_id, user.vector)
        names = [*(name for name, _ in searches), "pinnersage"]
        # The HNSW searches run in Postgres while this thread walks Pixie (numba, GIL released).
        pending = _submit_searches(
            state, names, lambda _: [*searches, *pinnersage_searches(state, user.engagements)], user.excluded_rows
        )
        with stage("pixie"):
            walked = pixie_rows(state, user.engagements)
        with stage("retrieval"):
            candidates = _collected(pending, names)
            candidates.add(co_engagement_rows(state, seeds), "co_engagement", user.excluded_rows)
        candidates.add(walked, "pixie", user.excluded_rows)
    if user.is_cold:
        fallback = "history_unavailable" if "user_history" in user.degraded else "cold_start"
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
    with stage("ranking"):
        scored = score(
            state, candidates.sources, user_features=user.features, user_vector=vector, user_interest=user.interest
        )
    return assemble_page(scored, state.pins, weights=weights, k=k, max_per_creator=state.settings.max_pins_per_creator)


def _noted(candidates: Candidates, page: PagePublic) -> PagePublic:
    """``page``, after recording what it served in the request's trace."""
    note_page(
        surface=page.surface, candidates=len(candidates.sources),
        fallback=page.fallback, degraded_sources=page.degraded_sources,
    )
    return page


def home_feed(state: ServingState, *, user_id: int, k: int, weights: UtilityWeights | None = None) -> PagePublic:
    """The user's home feed; a user without history gets their locale's popular pins, flagged.

    Without ``weights``, the stored ones of the user's experiment arm; the code's defaults,
    with "utility_weights" degraded, when the database cannot give them."""
    user = user_context(state, user_id, with_weights=weights is None)
    arm, weights_degraded = None, []
    if weights is None:
        weights, arm = user.weights or (UtilityWeights(), None)
        weights_degraded = [] if user.weights else ["utility_weights"]
    candidates, fallback = _home_candidates(state, user)
    items = _page(state, candidates, user, k=k, weights=weights)
    return _noted(candidates, PagePublic(
        surface="homefeed", user_id=user_id, items=items, fallback=fallback,
        degraded_sources=[*weights_degraded, *user.degraded, *candidates.degraded],
        feature_defaults=_feature_defaults(state, user, items), weights=weights.as_dict(), arm=arm,
        model_versions=state.model_versions,
    ))


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
    subject = state.vectors.model.pin_vectors[row]

    def plan(conn: Connection) -> NamedSearches:
        searches = [("related", VectorSearch(state.embedding_version, subject, RELATED_PER_SOURCE))] if subject.any() else []
        text_vector = pin_vector(conn, version=state.text.version, pin_id=pin_id)
        if text_vector is not None and text_vector.any():
            searches.append(("text", VectorSearch(state.text.version, text_vector, RELATED_PER_SOURCE)))
        return searches

    candidates = _searched(state, ["related", "text"], plan, exclude)
    candidates.add(co_engagement_rows(state, np.array([row])), "co_engagement", exclude)
    seed = pd.DataFrame({"pin_id": [pin_id], "action": ["save"], "ts": [pd.Timestamp.now(tz="UTC")]})
    candidates.add(pixie_rows(state, seed, k=RELATED_PER_SOURCE), "pixie", exclude)
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, user.locale), "popular", exclude)
    items = _page(state, candidates, user, k=k, weights=weights, context_vector=subject)
    return _noted(candidates, PagePublic(
        surface="related", user_id=user_id, pin_id=pin_id, items=items, fallback=fallback,
        degraded_sources=[*user.degraded, *candidates.degraded], feature_defaults=_feature_defaults(state, user, items),
        weights=weights.as_dict(), model_versions=state.model_versions,
    ))


def search(
    state: ServingState, *, query: str, k: int, weights: UtilityWeights, user_id: int | None = None
) -> PagePublic:
    """Pins matching ``query``: the query tower's vector against the pins' text index, then ranked."""
    user = user_context(state, user_id)
    vector = embed_texts(state.text.model, [query])[0]
    search_depth = max(SEARCH_CANDIDATES_PER_SLOT * k, MIN_SEARCH_CANDIDATES)
    searches = [("text", VectorSearch(state.text.version, vector, search_depth))] if vector.any() else []
    candidates = _searched(state, ["text"], lambda _: searches, frozenset())
    fallback = None
    if not candidates.sources:
        fallback = "no_candidates"
        candidates.add(popular_rows(state, user.locale), "popular")
    items = _page(state, candidates, user, k=k, weights=weights, context_vector=_query_context(state, candidates))
    return _noted(candidates, PagePublic(
        surface="search", user_id=user_id, query=query, items=items, fallback=fallback,
        degraded_sources=[*user.degraded, *candidates.degraded], feature_defaults=_feature_defaults(state, user, items),
        weights=weights.as_dict(), model_versions=state.model_versions,
    ))


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
