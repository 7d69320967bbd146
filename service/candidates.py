"""Candidate sources: embedding retrieval (pgvector HNSW) from the user's vector, their two-tower
vector, the mean PinSAGE vector of their latest pins and their PinnerSage medoids, co-engagement
neighbours, Pixie walks, and popular pins.

A page's HNSW searches run as one statement; when it fails or runs out of time, their sources
are skipped and reported, and the in-memory ones still answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection

from models.engagements import Engagements
from models.pinnersage import MEDOID_CANDIDATES, medoid_pins
from models.pixie import PixieConfig, pixie_walk, query_weights
from models.ranker_similarities import history_vector
from service.serving_state import ServingState
from service.user_context import UserContext
from sql.embeddings import VectorSearch, nearest_pin_ids_many

RETRIEVAL_CANDIDATES = 150
NEIGHBOURS_PER_PIN = 20
PIXIE_CANDIDATES = 400  # with the other sources, at least 500 candidates for most users (docs/performance.md)
PIXIE_CATALOGUE_SHARE = 0.1  # ... but never more than this share of a small catalogue: past it, walks propose noise
# 20k steps keep 82% of the top 400 of a 200k-step walk (50k: 88%) and 96% of the home feed's top 25
# pins, for half of the walk's time (docs/performance.md).
PIXIE = PixieConfig(total_steps=20_000)


@dataclass
class Candidates:
    """Pin rows (into the embedding's pin ids) with the sources that proposed each."""

    sources: dict[int, list[str]] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)
    # Each source's rows in the order it proposed them, for the funnel evaluation's recall@K per source.
    by_source: dict[str, list[int]] = field(default_factory=dict)

    def add(self, rows: np.ndarray, source: str, exclude: frozenset[int] = frozenset()) -> None:
        """Record that ``source`` proposed ``rows`` (unknown pins, -1, and ``exclude`` are skipped)."""
        sources, added = self.sources, []  # the loop runs for every candidate of a page: locals only
        for row in rows.tolist():
            if row < 0 or row in exclude:
                continue
            proposed = sources.get(row)
            if proposed is None:
                sources[row] = [source]
            elif source in proposed:
                continue
            else:
                proposed.append(source)
            added.append(row)
        if added:
            self.by_source.setdefault(source, []).extend(added)


def searched_rows(
    state: ServingState, conn: Connection, searches: Sequence[tuple[str, VectorSearch]], *, exclude_rows: frozenset[int]
) -> list[tuple[str, np.ndarray]]:
    """(source, pin rows) of each named HNSW search, all in one statement, skipping ``exclude_rows``
    in SQL already so that each search still returns its ``k`` pins."""
    pin_ids = state.vectors.model.pin_ids
    exclude = pin_ids[sorted(exclude_rows)].tolist()
    found = nearest_pin_ids_many(conn, [search for _, search in searches], exclude=exclude)
    return [(source, state.vectors.model.pin_rows(hits)) for (source, _), hits in zip(searches, found, strict=True)]


def user_vector_searches(state: ServingState, user: UserContext) -> list[tuple[str, VectorSearch]]:
    """The user's own vectors' searches: their engagement vector ("embedding"), their two-tower
    vector ("two_tower", computed on request) and the PinSAGE mean of their latest pins
    ("pinsage"), each when they have one."""
    searches = []
    if user.vector is not None:
        searches.append(("embedding", VectorSearch(state.embedding_version, user.vector, RETRIEVAL_CANDIDATES)))
    if state.two_tower is not None and user.two_tower_vector is not None:
        two_tower = VectorSearch(state.two_tower.version, user.two_tower_vector, RETRIEVAL_CANDIDATES)
        searches.append(("two_tower", two_tower))
    pinsage = history_mean(state, "pinsage", user.engagements)
    if state.pinsage is not None and state.pinsage.version is not None and pinsage is not None:
        searches.append(("pinsage", VectorSearch(state.pinsage.version, pinsage, RETRIEVAL_CANDIDATES)))
    return searches


def history_mean(state: ServingState, kind: str, engagements: Engagements) -> np.ndarray | None:
    """The recency-weighted mean of the ``kind`` vectors of the user's latest engaged pins
    (``models.ranker_similarities.history_vector``); None without any, or when ``kind`` is not served."""
    learned = state.learned.get(kind)
    if learned is None or len(engagements) == 0:
        return None
    rows = state.vectors.model.pin_rows(engagements.pins_oldest_first())
    vector = history_vector(learned.vectors[rows[rows >= 0]])
    return vector if vector.any() else None


@dataclass(frozen=True)
class PinnerSagePlan:
    """A user's PinnerSage candidates: the pin rows found with their stored medoids, or (``rows``
    empty) the searches that find them now."""

    rows: np.ndarray
    searches: list[tuple[str, VectorSearch]]


def pinnersage_plan(state: ServingState, user: UserContext) -> PinnerSagePlan:
    """The user's medoids' nearest pins as materialized with the medoids while the user's latest
    engagements are the ones they came from, else ``pinnersage_searches``."""
    found = None
    if state.medoids is not None and user.user_id is not None and len(user.engagements):
        latest = {"newest_us": user.engagements.newest_us, "engagements": len(user.engagements)}
        found = state.medoids.candidates_of(user.user_id, **latest)
    if found is not None:
        return PinnerSagePlan(state.vectors.model.pin_rows(found), [])
    return PinnerSagePlan(np.empty(0, dtype=np.int64), pinnersage_searches(state, user))


def pinnersage_searches(state: ServingState, user: UserContext) -> list[tuple[str, VectorSearch]]:
    """One search per most important interest medoid of the user (PinnerSage): the medoids stored
    at materialization while the user's latest engagements are the ones they came from, else
    clustered now."""
    engagements, medoids = user.engagements, None
    if state.medoids is not None and user.user_id is not None and len(engagements):
        medoids = state.medoids.of(user.user_id, newest_us=engagements.newest_us, engagements=len(engagements))
    if medoids is None:
        medoids = medoid_pins(engagements, state.vectors.model.pin_vectors_for(engagements.pin_ids))
    # Medoids are engaged pins with a vector: pinnersage_medoids skips the zero rows.
    return [
        ("pinnersage", VectorSearch(state.embedding_version, vector, MEDOID_CANDIDATES))
        for vector in state.vectors.model.pin_vectors_for(medoids)
    ]


def served_neighbours(neighbours: np.ndarray) -> np.ndarray:
    """The columns of the embedding's neighbour table that ``co_engagement_rows`` reads, as int32
    rows: all that a load keeps of it."""
    return np.ascontiguousarray(neighbours[:, :NEIGHBOURS_PER_PIN], dtype=np.int32)


def co_engagement_rows(state: ServingState, seed_rows: np.ndarray) -> np.ndarray:
    """Pins most often engaged together with the seed pins."""
    neighbours = state.vectors.neighbours[seed_rows[seed_rows >= 0], :NEIGHBOURS_PER_PIN].ravel()
    return neighbours[neighbours >= 0]


def pixie_rows(state: ServingState, engagements: Engagements, *, k: int = PIXIE_CANDIDATES) -> np.ndarray:
    """Top pins of Pixie walks from the seed pins, weighted by recency and action."""
    graph = state.graph.graph  # one reference per request: a reload swaps it, not these arrays
    seeds = engagements.pin_ids
    graph_rows = np.searchsorted(graph.pin_ids, seeds).clip(0, max(len(graph.pin_ids) - 1, 0))
    known = graph.pin_ids[graph_rows] == seeds
    if not known.any():
        return np.empty(0, dtype=np.int64)
    weights = query_weights(engagements.ages_days()[known], engagements.actions[known].tolist())
    top_k = min(k, max(1, int(PIXIE_CATALOGUE_SHARE * len(graph.pin_ids))))
    result = pixie_walk(graph, graph_rows[known], weights, PIXIE, top_k=top_k)
    return state.vectors.model.pin_rows(graph.pin_ids[result.pin_rows])


def popular_rows(state: ServingState, locale: tuple[str, str] | None) -> np.ndarray:
    """Most engaged pins of the locale, or of everyone when the locale has none."""
    rows = state.popular.get(locale) if locale else None
    return rows if rows is not None and len(rows) else state.popular[("", "")]
