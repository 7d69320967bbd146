"""Candidate sources: embedding retrieval (pgvector HNSW) from the user's vector, their two-tower
vector and their PinnerSage medoids, co-engagement neighbours, Pixie walks, and popular pins.

A source that fails or runs out of time is skipped and reported; the others still answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from models.pinnersage import pinnersage_medoids
from models.pixie import PixieConfig, pixie_walk, query_weights
from service.state import ServingState
from sql.embeddings import nearest_pins_each

log = logging.getLogger("corkboard.service")

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
        for row in rows.tolist():
            if row >= 0 and row not in exclude:
                proposed = self.sources.setdefault(row, [])
                if source not in proposed:
                    proposed.append(source)

    def attempt(self, source: str, conn: Connection, produce: Callable[[], np.ndarray], exclude: frozenset[int]) -> None:
        """Add what ``produce`` returns; on failure or timeout record ``source`` as degraded."""
        try:
            with conn.begin_nested():  # a failed statement rolls back to here, not the whole request
                rows = produce()
        except Exception as error:  # noqa: BLE001 - any source failure degrades, never fails, a request
            log.warning("candidate source %s failed: %s", source, error)
            self.degraded.append(source)
            return
        self.add(rows, source, exclude)


def nearest_rows(
    state: ServingState,
    conn: Connection,
    vectors: np.ndarray | None,
    *,
    version: int,
    exclude_ids: list[int],
    k: int = RETRIEVAL_CANDIDATES,
) -> np.ndarray:
    """Rows of the ``k`` pins nearest ``vectors`` (one vector, or one per row, all searched in one
    statement) in the HNSW partition ``version``, filtered in SQL, within the source time budget."""
    queries = np.empty((0, 0)) if vectors is None else np.atleast_2d(vectors)
    queries = queries[np.any(queries != 0, axis=1)]
    if not len(queries):
        return np.empty(0, dtype=np.int64)
    found = nearest_pins_each(
        conn, version=version, queries=queries, k=k, exclude=exclude_ids,
        ef_search=state.settings.hnsw_ef_search, timeout_ms=state.settings.source_timeout_ms,
    )
    return state.vectors.model.pin_rows(np.array([pin for hits in found for pin, _ in hits], dtype=np.int64))


def two_tower_rows(state: ServingState, conn: Connection, *, user_id: int, exclude_ids: list[int]) -> np.ndarray:
    """Nearest pins of the user's stored two-tower vector in the two-tower HNSW partition; none
    when there is no two-tower version or the user has no vector in it."""
    if state.two_tower is None:
        return np.empty(0, dtype=np.int64)
    vector = state.two_tower.vector(user_id)
    return nearest_rows(state, conn, vector, version=state.two_tower.version, exclude_ids=exclude_ids)


def pinnersage_rows(state: ServingState, conn: Connection, engagements: pd.DataFrame, *, exclude_ids: list[int]) -> np.ndarray:
    """Nearest pins of each of the user's most important interest medoids (PinnerSage)."""
    vectors = state.vectors.model.pin_vectors_for(engagements["pin_id"].to_numpy(dtype=np.int64))
    ages = ((engagements["ts"].max() - engagements["ts"]).dt.total_seconds() / 86400).to_numpy()
    medoids = pinnersage_medoids(vectors, ages)
    return nearest_rows(
        state, conn, vectors[medoids.rows[:MEDOIDS]], version=state.embedding_version,
        exclude_ids=exclude_ids, k=MEDOID_CANDIDATES,
    )


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
