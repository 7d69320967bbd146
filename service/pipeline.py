"""The request path: online features -> candidates -> ranker -> utility blend -> page.

Everything expensive (models, vectors, the whole catalogue's pin features) is loaded once in
``load_serving_state``; ``recommend`` only looks things up and runs the ranker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureStore
from sqlalchemy import Connection, Engine

from features.store import feature_defaults, fill_missing_features, online_features
from models.embedding_store import EmbeddingArtifact
from models.ranker import MultiTaskRanker, load_ranker
from models.ranker_features import FeatureEncoder
from models.utility import UtilityWeights, blend, stakeholder_utilities
from service.schemas import RecommendationPublic, RecommendedPin
from sql.catalogue import read_table, user_exists
from sql.embeddings import nearest_pins, user_vector
from sql.events import hidden_pins, recent_engaged_pins
from sql.versions import active_version

RETRIEVAL_CANDIDATES = 400
RECENT_PINS = 20
NEIGHBOURS_PER_PIN = 20
FEATURE_BATCH = 5_000


class NotReadyError(RuntimeError):
    """Serving state is missing: nothing has been materialized yet, or a model is absent."""


@dataclass(frozen=True)
class PinTable:
    """Per-pin arrays aligned with the embedding's sorted pin ids."""

    features: np.ndarray  # the ranker's encoded pin block
    is_ad: np.ndarray
    is_shopping: np.ndarray
    creator_pins: np.ndarray
    age_days: np.ndarray


@dataclass(frozen=True)
class ServingState:
    """What one serving process holds: connections, the serving versions and the pin cache."""

    engine: Engine
    store: FeatureStore
    embedding_version: int
    ranker_version: int
    vectors: EmbeddingArtifact
    ranker: MultiTaskRanker
    encoder: FeatureEncoder
    pins: PinTable
    defaults: dict[str, float]
    ef_search: int

    @property
    def model_versions(self) -> dict[str, int]:
        return {"pin_embedding": self.embedding_version, "ranker": self.ranker_version}


def load_serving_state(engine: Engine, store: FeatureStore, *, ef_search: int) -> ServingState:
    """Load the serving versions and cache every pin's features; raises NotReadyError if absent."""
    with engine.connect() as conn:
        embedding = active_version(conn, kind="pin_embedding")
        ranking = active_version(conn, kind="ranker")
        catalogue = read_table(conn, table="pins", columns=("pin_id", "creator_id", "is_ad", "merchant_id", "created_at"))
    if embedding is None or ranking is None:
        raise NotReadyError("no serving pin embedding or ranker: run `corkboard materialize` first")
    vectors = EmbeddingArtifact.load(embedding.artifact)
    ranker, encoder = load_ranker(Path(ranking.artifact))
    defaults = feature_defaults()
    pins = _pin_table(store, encoder, vectors.model.pin_ids, catalogue, defaults)
    return ServingState(
        engine, store, embedding.version, ranking.version, vectors, ranker, encoder, pins, defaults, ef_search
    )


def _pin_table(
    store: FeatureStore, encoder: FeatureEncoder, pin_ids: np.ndarray, catalogue: pd.DataFrame, defaults: dict[str, float]
) -> PinTable:
    """Encoded online features and blend attributes of every pin, in ``pin_ids`` order."""
    frames = [
        online_features(store, pin_ids=pin_ids[start : start + FEATURE_BATCH])
        for start in range(0, len(pin_ids), FEATURE_BATCH)
    ]
    features = fill_missing_features(pd.concat(frames, ignore_index=True), defaults)
    catalogue = catalogue.set_index("pin_id").reindex(pin_ids)
    age = datetime.now(timezone.utc) - catalogue["created_at"]
    return PinTable(
        features=encoder.encode_pins(features),
        is_ad=catalogue["is_ad"].astype(bool).to_numpy(),
        is_shopping=catalogue["merchant_id"].notna().to_numpy(),
        creator_pins=catalogue.groupby("creator_id")["creator_id"].transform("size").to_numpy(dtype=np.float64),
        age_days=(age.dt.total_seconds() / 86400).to_numpy(),
    )


def _candidates(
    state: ServingState, conn: Connection, user_id: int, vector: np.ndarray | None
) -> dict[int, list[str]]:
    """Candidate pin ids with the sources that proposed them, minus pins the user hid or engaged."""
    recent = recent_engaged_pins(conn, user_id=user_id, limit=RECENT_PINS)
    exclude = set(recent) | set(hidden_pins(conn, user_id=user_id))
    found: dict[int, list[str]] = {}
    if vector is not None and np.any(vector):
        for pin_id, _ in nearest_pins(
            conn, version=state.embedding_version, query=vector, k=RETRIEVAL_CANDIDATES,
            exclude=sorted(exclude), ef_search=state.ef_search,
        ):
            found.setdefault(pin_id, []).append("embedding")
    rows = state.vectors.model.pin_rows(np.asarray(recent, dtype=np.int64))
    neighbours = state.vectors.neighbours[rows[rows >= 0], :NEIGHBOURS_PER_PIN].ravel()
    for pin_id in state.vectors.model.pin_ids[neighbours[neighbours >= 0]].tolist():
        if pin_id not in exclude and "co_engagement" not in found.setdefault(pin_id, []):
            found[pin_id].append("co_engagement")
    return found


def _popular(state: ServingState, count: int) -> dict[int, list[str]]:
    popular = state.vectors.model.pin_ids[state.vectors.popular[:count]]
    return {int(pin_id): ["popular"] for pin_id in popular}


def recommend(state: ServingState, *, user_id: int, k: int, weights: UtilityWeights) -> RecommendationPublic:
    """The top ``k`` pins for ``user_id``; unknown or history-less users get ranked popular pins."""
    fallback = None
    with state.engine.connect() as conn:
        known = user_exists(conn, user_id=user_id)
        vector = user_vector(conn, version=state.embedding_version, user_id=user_id) if known else None
        candidates = _candidates(state, conn, user_id, vector) if known else {}
    if not candidates:
        fallback = "cold_start" if not known or vector is None or not np.any(vector) else "no_candidates"
        candidates = _popular(state, max(k, RETRIEVAL_CANDIDATES))
    pin_ids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
    rows = state.vectors.model.pin_rows(pin_ids)
    pin_ids, rows = pin_ids[rows >= 0], rows[rows >= 0]
    user_features = fill_missing_features(online_features(state.store, user_ids=[user_id]), state.defaults)
    user_vec = np.zeros(state.encoder.vector_dim, dtype=np.float32) if vector is None else vector
    inputs = state.encoder.assemble(
        state.encoder.encode_users(user_features),
        state.pins.features[rows],
        state.encoder.pair_block(user_vec, state.vectors.model.pin_vectors[rows], 0.0),
    )
    heads = state.ranker.predict_heads(inputs)
    utilities = stakeholder_utilities(
        heads,
        is_ad=state.pins.is_ad[rows],
        is_shopping=state.pins.is_shopping[rows],
        creator_followers=state.pins.creator_pins[rows],
        pin_age_days=state.pins.age_days[rows],
    )
    scores = blend(utilities, weights)
    top = np.argsort(-scores, kind="stable")[:k]
    items = [
        RecommendedPin(
            pin_id=int(pin_ids[i]),
            score=float(scores[i]),
            sources=candidates[int(pin_ids[i])],
            heads={name: float(probs[i]) for name, probs in heads.items()},
            utility={name: float(values[i]) for name, values in utilities.items()},
        )
        for i in top
    ]
    return RecommendationPublic(
        user_id=user_id, items=items, fallback=fallback, weights=weights.as_dict(), model_versions=state.model_versions
    )
