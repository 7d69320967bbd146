"""Candidate sources: embedding retrieval (pgvector HNSW) from the user's vector, their two-tower
vector and their PinnerSage medoids, co-engagement neighbours, Pixie walks, and popular pins.

A page's HNSW searches run as one statement; when it fails or runs out of time, their sources
are skipped and reported, and the in-memory ones still answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from models.pinnersage import pinnersage_medoids
from models.pixie import PixieConfig, pixie_walk, query_weights
from service.serving_state import ServingState
from sql.embeddings import VectorSearch, nearest_pins_many

RETRIEVAL_CANDIDATES = 150
NEIGHBOURS_PER_PIN = 20
PIXIE_CANDIDATES = 400  # with the other sources, at least 500 candidates for most users (docs/performance.md)
PIXIE_CATALOGUE_SHARE = 0.1  # ... but never more than this share of a small catalogue: past it, walks propose noise
MEDOIDS = 3
MEDOID_CANDIDATES = 50
PIXIE = PixieConfig(total_steps=50_000)


@dataclass
class Candidates:
    """Pin rows (into the embedding's pin ids) with the sources that proposed each."""

    sources: dict[int, list[str]] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)

    def add(self, rows: np.ndarray, source: str, exclude: frozenset[int] = frozenset()) -> None:
        """Record that ``source`` proposed ``rows`` (unknown pins, -1, and ``exclude`` are skipped)."""
        for row in rows.tolist():
            if row >= 0 and row not in exclude:
                proposed = self.sources.setdefault(row, [])
                if source not in proposed:
                    proposed.append(source)


def searched_rows(
    state: ServingState, conn: Connection, searches: Sequence[tuple[str, VectorSearch]], *, exclude_rows: frozenset[int]
) -> list[tuple[str, np.ndarray]]:
    """(source, pin rows) of each named HNSW search, all in one statement, skipping ``exclude_rows``
    in SQL already so that each search still returns its ``k`` pins."""
    pin_ids = state.vectors.model.pin_ids
    found = nearest_pins_many(conn, [search for _, search in searches], exclude=pin_ids[sorted(exclude_rows)].tolist())
    return [
        (source, state.vectors.model.pin_rows(np.array([pin for pin, _ in hits], dtype=np.int64)))
        for (source, _), hits in zip(searches, found, strict=True)
    ]


def user_vector_searches(state: ServingState, user_id: int, vector: np.ndarray | None) -> list[tuple[str, VectorSearch]]:
    """The user's own vectors' searches: their engagement vector ("embedding") and their stored
    two-tower vector ("two_tower"), each when they have one."""
    searches = []
    if vector is not None:
        searches.append(("embedding", VectorSearch(state.embedding_version, vector, RETRIEVAL_CANDIDATES)))
    two_tower = None if state.two_tower is None else state.two_tower.vector(user_id)
    if two_tower is not None and two_tower.any():
        searches.append(("two_tower", VectorSearch(state.two_tower.version, two_tower, RETRIEVAL_CANDIDATES)))
    return searches


def pinnersage_searches(state: ServingState, engagements: pd.DataFrame) -> list[tuple[str, VectorSearch]]:
    """One search per most important interest medoid of the user (PinnerSage)."""
    vectors = state.vectors.model.pin_vectors_for(engagements["pin_id"].to_numpy(dtype=np.int64))
    ages = ((engagements["ts"].max() - engagements["ts"]).dt.total_seconds() / 86400).to_numpy()
    medoids = pinnersage_medoids(vectors, ages)
    # Medoids are engaged pins with a vector: pinnersage_medoids skips the zero rows.
    return [
        ("pinnersage", VectorSearch(state.embedding_version, vectors[row], MEDOID_CANDIDATES))
        for row in medoids.rows[:MEDOIDS]
    ]


def co_engagement_rows(state: ServingState, seed_rows: np.ndarray) -> np.ndarray:
    """Pins most often engaged together with the seed pins."""
    neighbours = state.vectors.neighbours[seed_rows[seed_rows >= 0], :NEIGHBOURS_PER_PIN].ravel()
    return neighbours[neighbours >= 0]


def pixie_rows(state: ServingState, engagements: pd.DataFrame, *, k: int = PIXIE_CANDIDATES) -> np.ndarray:
    """Top pins of Pixie walks from the seed pins, weighted by recency and action."""
    graph = state.graph.graph  # one reference per request: a reload swaps it, not these arrays
    seeds = engagements["pin_id"].to_numpy(dtype=np.int64)
    graph_rows = np.searchsorted(graph.pin_ids, seeds).clip(0, max(len(graph.pin_ids) - 1, 0))
    known = graph.pin_ids[graph_rows] == seeds
    if not known.any():
        return np.empty(0, dtype=np.int64)
    newest = engagements["ts"].max()
    ages = ((newest - engagements["ts"]).dt.total_seconds() / 86400).to_numpy()[known]
    weights = query_weights(ages, engagements["action"].to_numpy()[known].tolist())
    top_k = min(k, max(1, int(PIXIE_CATALOGUE_SHARE * len(graph.pin_ids))))
    result = pixie_walk(graph, graph_rows[known], weights, PIXIE, top_k=top_k)
    return state.vectors.model.pin_rows(graph.pin_ids[result.pin_rows])


def popular_rows(state: ServingState, locale: tuple[str, str] | None) -> np.ndarray:
    """Most engaged pins of the locale, or of everyone when the locale has none."""
    rows = state.popular.get(locale) if locale else None
    return rows if rows is not None and len(rows) else state.popular[("", "")]
