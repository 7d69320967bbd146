"""What a serving process loads once: versions, vectors, ranker, graph and every pin's features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureStore
from sqlalchemy import Engine

from corkboard.database import get_engine
from corkboard.settings import Settings
from features.store import feature_defaults, feature_store, fill_missing_features, online_features
from models.embedding_store import EmbeddingArtifact
from models.interests import category_codes
from models.pin_board_graph import POINTER, GraphHandle
from models.ranker import MultiTaskRanker, load_ranker
from models.ranker_features import FeatureEncoder
from models.text_tower import TextTower, load_text_tower
from sql.catalogue import read_table
from sql.events import popular_by_locale
from sql.versions import active_version

FEATURE_BATCH = 5_000
POPULAR_PER_LOCALE = 500


class NotReadyError(RuntimeError):
    """Serving state is missing: nothing has been materialized yet, or a model is absent."""


@dataclass(frozen=True)
class PinTable:
    """Per-pin arrays aligned with the embedding's sorted pin ids."""

    features: np.ndarray  # the ranker's encoded pin block
    is_ad: np.ndarray
    is_shopping: np.ndarray
    creator_id: np.ndarray
    creator_pins: np.ndarray
    age_days: np.ndarray
    image_signature: np.ndarray
    category: np.ndarray
    category_code: np.ndarray  # index into ``categories``
    categories: np.ndarray  # sorted vocabulary, as the ranker's interest feature was trained with


@dataclass(frozen=True)
class TextIndex:
    """The query tower and the pgvector version of the pins' text vectors it was trained with."""

    version: int
    model: TextTower


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
    text: TextIndex
    graph: GraphHandle
    popular: dict[tuple[str, str], np.ndarray]  # (country, language) -> pin rows, most engaged first
    defaults: dict[str, float]
    settings: Settings

    @property
    def model_versions(self) -> dict[str, int]:
        return {"pin_embedding": self.embedding_version, "pin_text": self.text.version, "ranker": self.ranker_version}


def load_serving_state(engine: Engine, store: FeatureStore, settings: Settings) -> ServingState:
    """Load the serving versions and cache every pin's features; raises NotReadyError if absent."""
    with engine.connect() as conn:
        embedding = active_version(conn, kind="pin_embedding")
        ranking = active_version(conn, kind="ranker")
        text = active_version(conn, kind="pin_text")
        catalogue = read_table(
            conn,
            table="pins",
            columns=("pin_id", "creator_id", "is_ad", "merchant_id", "created_at", "image_signature", "category"),
        )
        locales = popular_by_locale(conn, limit=POPULAR_PER_LOCALE)
    if embedding is None or ranking is None or text is None:
        raise NotReadyError("no serving pin embedding, text index or ranker: run `corkboard materialize` first")
    graph_folder = settings.model_dir / "graph" / "pin_board"
    if not (graph_folder / POINTER).exists():
        raise NotReadyError(f"no pin-board graph under {graph_folder}: run `corkboard materialize` first")
    vectors = EmbeddingArtifact.load(embedding.artifact)
    ranker, encoder = load_ranker(Path(ranking.artifact))
    defaults = feature_defaults(settings)
    pins = _pin_table(store, encoder, vectors.model.pin_ids, catalogue, defaults)
    popular = {
        locale: vectors.model.pin_rows(group["pin_id"].to_numpy())
        for locale, group in locales.groupby(["country", "language"], sort=False)
    }
    popular[("", "")] = vectors.popular
    return ServingState(
        engine, store, embedding.version, ranking.version, vectors, ranker, encoder, pins,
        TextIndex(text.version, load_text_tower(Path(text.artifact))), GraphHandle(graph_folder),
        popular, defaults, settings,
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
    category = catalogue["category"].astype(str).to_numpy()
    vocabulary = np.unique(category)
    return PinTable(
        features=encoder.encode_pins(features),
        is_ad=catalogue["is_ad"].astype(bool).to_numpy(),
        is_shopping=catalogue["merchant_id"].notna().to_numpy(),
        creator_id=catalogue["creator_id"].to_numpy(dtype=np.int64),
        creator_pins=catalogue.groupby("creator_id")["creator_id"].transform("size").to_numpy(dtype=np.float64),
        age_days=(age.dt.total_seconds() / 86400).to_numpy(),
        image_signature=catalogue["image_signature"].to_numpy(dtype=np.int64),
        category=category,
        category_code=category_codes(category, vocabulary),
        categories=vocabulary,
    )


def open_serving_state(settings: Settings) -> ServingState:
    """Connect to the database and feature store of ``settings`` and load the serving models."""
    return load_serving_state(get_engine(settings), feature_store(settings), settings)
