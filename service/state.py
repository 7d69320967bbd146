"""What a serving process loads once: versions, vectors, ranker, graph and every pin's features."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from feast import FeatureStore
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import State

from core.database import request_engine
from core.settings import Settings
from features.store import feature_defaults, feature_store, fill_missing_features, online_features
from models.checkpoint import CheckpointError
from models.embedding_store import EmbeddingArtifact
from models.interests import category_codes
from models.pin_board_graph import POINTER, GraphHandle
from models.ranker import MultiTaskRanker, load_ranker
from models.ranker_features import FeatureEncoder
from models.text_tower import TextTower, load_text_tower
from service.database_guard import DatabaseGuard, DatabaseUnavailable
from sql.catalogue import read_table
from sql.embeddings import EMBEDDING_DIM, all_user_vectors, request_session
from sql.events import popular_by_locale
from sql.migrate import migrated_engine
from sql.versions import ModelVersion, active_version

FEATURE_BATCH = 5_000
POPULAR_PER_LOCALE = 500
T = TypeVar("T")


class NotReadyError(RuntimeError):
    """Serving state is missing: nothing has been materialized yet, or a model is absent."""


class ModelFileError(RuntimeError):
    """A serving model's file is missing, corrupt, or does not fit the rest of the serving state."""


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
    default_features: np.ndarray  # True where a feature view of the pin was missing online


@dataclass(frozen=True)
class UserTable:
    """Every catalogue user's encoded online features, missing feature views and locale.

    Read once per load: the online store changes when ``online_features`` is materialized, and
    a reload (``POST /v1/admin/reload``) picks that up. Users unknown at load time are read from
    the online store per request.
    """

    user_ids: np.ndarray  # sorted
    features: np.ndarray  # the ranker's encoded user block, row-aligned with user_ids
    missing: np.ndarray  # [n_users, len(views)]: True where the view came back empty (defaults used)
    views: tuple[str, ...]
    country: np.ndarray
    language: np.ndarray

    def row(self, user_id: int) -> int | None:
        """The user's row, or None for a user unknown at load time."""
        row = int(np.searchsorted(self.user_ids, user_id))
        return row if row < len(self.user_ids) and self.user_ids[row] == user_id else None

    def locale(self, row: int) -> tuple[str, str] | None:
        """(country, language) of the user at ``row``, if the catalogue has both."""
        country, language = self.country[row], self.language[row]
        return None if pd.isna(country) or pd.isna(language) else (str(country), str(language))


@dataclass(frozen=True)
class UserVectors:
    """Stored user vectors of one version, looked up in memory instead of per request."""

    version: int
    user_ids: np.ndarray  # sorted
    vectors: np.ndarray

    def vector(self, user_id: int) -> np.ndarray | None:
        row = int(np.searchsorted(self.user_ids, user_id))
        return self.vectors[row] if row < len(self.user_ids) and self.user_ids[row] == user_id else None


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
    users: UserTable
    text: TextIndex
    graph: GraphHandle
    popular: dict[tuple[str, str], np.ndarray]  # (country, language) -> pin rows, most engaged first
    defaults: dict[str, float]
    settings: Settings
    database: DatabaseGuard  # every database step of a request goes through it
    two_tower: UserVectors | None = None  # None: no two-tower index yet, so no "two_tower" source

    @property
    def two_tower_version(self) -> int | None:
        return None if self.two_tower is None else self.two_tower.version

    @property
    def model_versions(self) -> dict[str, int]:
        versions = {"pin_embedding": self.embedding_version, "pin_text": self.text.version, "ranker": self.ranker_version}
        if self.two_tower_version is not None:
            versions["two_tower"] = self.two_tower_version
        return versions


def load_serving_state(engine: Engine, store: FeatureStore, settings: Settings, database: DatabaseGuard) -> ServingState:
    """Load the serving versions and cache every pin's features; requests will reach the database
    through ``database``.

    Raises NotReadyError when nothing is materialized yet, ModelFileError when a model file is
    corrupt or does not fit the others."""
    with engine.connect() as conn:
        embedding = active_version(conn, kind="pin_embedding")
        ranking = active_version(conn, kind="ranker")
        text = active_version(conn, kind="pin_text")
        two_tower = active_version(conn, kind="two_tower")
        catalogue = read_table(
            conn,
            table="pins",
            columns=("pin_id", "creator_id", "is_ad", "merchant_id", "created_at", "image_signature", "category"),
        )
        locales = popular_by_locale(conn, limit=POPULAR_PER_LOCALE)
        users = read_table(conn, table="users", columns=("user_id", "country", "language"))
        two_tower_users = None if two_tower is None else UserVectors(two_tower.version, *all_user_vectors(conn, version=two_tower.version))
    if embedding is None or ranking is None or text is None:
        raise NotReadyError("no serving pin embedding, text index or ranker: run `corkboard materialize` first")
    graph_folder = settings.model_dir / "graph" / "pin_board"
    if not (graph_folder / POINTER).exists():
        raise NotReadyError(f"no pin-board graph under {graph_folder}: run `corkboard materialize` first")
    vectors = _load_model(embedding, EmbeddingArtifact.load)
    ranker, encoder = _load_model(ranking, load_ranker)
    text_tower = _load_model(text, load_text_tower)
    _check_dimensions(vectors, text_tower)
    defaults = feature_defaults(settings)
    pins = _pin_table(store, encoder, vectors.model.pin_ids, catalogue, defaults)
    user_table = _user_table(store, encoder, users, defaults)
    popular = {
        locale: vectors.model.pin_rows(group["pin_id"].to_numpy())
        for locale, group in locales.groupby(["country", "language"], sort=False)
    }
    popular[("", "")] = vectors.popular
    return ServingState(
        engine, store, embedding.version, ranking.version, vectors, ranker, encoder, pins, user_table,
        TextIndex(text.version, text_tower), GraphHandle(graph_folder), popular, defaults, settings,
        database, two_tower=two_tower_users,
    )


def _load_model(version: ModelVersion, load: Callable[[Path], T]) -> T:
    """``load(artifact)``, with any damage reported as a ModelFileError naming the version."""
    try:
        return load(Path(version.artifact))
    except (CheckpointError, OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{version.kind} version {version.version} ({version.artifact}): {error}") from error


def _check_dimensions(vectors: EmbeddingArtifact, text_tower: TextTower) -> None:
    """Both vector spaces must have the width of the pgvector columns they are searched in."""
    widths = {"pin_embedding": vectors.model.pin_vectors.shape[1], "pin_text": text_tower.config.dim}
    for kind, width in widths.items():
        if width != EMBEDDING_DIM:
            raise ModelFileError(f"{kind} vectors have {width} dimensions; the database index has {EMBEDDING_DIM}")


def missing_views(features: pd.DataFrame) -> pd.DataFrame:
    """Per row of online features, whether each feature view came back empty (every
    ``<view>__<feature>`` column missing): its values are the defaults."""
    views = sorted({column.split("__")[0] for column in features if "__" in column})
    return pd.DataFrame(
        {view: features[[c for c in features if c.startswith(f"{view}__")]].isna().all(axis=1) for view in views},
        index=features.index,
    )


def _pin_table(
    store: FeatureStore, encoder: FeatureEncoder, pin_ids: np.ndarray, catalogue: pd.DataFrame, defaults: dict[str, float]
) -> PinTable:
    """Encoded online features and blend attributes of every pin, in ``pin_ids`` order."""
    online = _online_in_batches(store, "pin_ids", pin_ids)
    features = fill_missing_features(online, defaults)
    catalogue = catalogue.set_index("pin_id").reindex(pin_ids)
    age = datetime.now(UTC) - catalogue["created_at"]
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
        default_features=missing_views(online).any(axis=1).to_numpy(),
    )


def _user_table(store: FeatureStore, encoder: FeatureEncoder, users: pd.DataFrame, defaults: dict[str, float]) -> UserTable:
    """Encoded online features, missing views and locale of every catalogue user, by sorted id."""
    users = users.sort_values("user_id", ignore_index=True)
    user_ids = users["user_id"].to_numpy(dtype=np.int64)
    online = _online_in_batches(store, "user_ids", user_ids)
    missing = missing_views(online)
    return UserTable(
        user_ids=user_ids,
        features=encoder.encode_users(fill_missing_features(online, defaults)),
        missing=missing.to_numpy(dtype=bool),
        views=tuple(missing.columns),
        country=users["country"].to_numpy(dtype=object),
        language=users["language"].to_numpy(dtype=object),
    )


def _online_in_batches(store: FeatureStore, key: str, ids: np.ndarray) -> pd.DataFrame:
    """``online_features`` of ``ids`` given as ``key`` ("pin_ids" or "user_ids"), a batch at a time."""
    frames = [
        online_features(store, **{key: ids[start : start + FEATURE_BATCH]}) for start in range(0, len(ids), FEATURE_BATCH)
    ]
    return pd.concat(frames, ignore_index=True) if frames else online_features(store, **{key: []})


# What loading can fail with, other than a bug: all leave the state being served untouched.
LOAD_ERRORS = (NotReadyError, ModelFileError, DatabaseUnavailable, SQLAlchemyError)


def open_serving_state(settings: Settings) -> ServingState:
    """Connect to the database and feature store of ``settings`` and load the serving models;
    raises one of LOAD_ERRORS when that is not possible now."""
    engine = migrated_engine(settings)  # the schema is current before anything serves from it
    session = request_session(statement_timeout_ms=settings.source_timeout_ms, ef_search=settings.hnsw_ef_search)
    guard = DatabaseGuard(request_engine(settings, session), deadline_ms=settings.database_deadline_ms)
    return load_serving_state(engine, feature_store(settings), settings, guard)


_swap = threading.Lock()  # one load at a time, so the newest request to reload wins last


def reload_serving_state(holder: State, settings: Settings) -> ServingState:
    """Load the serving versions afresh and put them in ``holder.serving`` in one assignment,
    so each request sees the old state or the new one, never a mix. On failure (one of
    LOAD_ERRORS) nothing changes: ``holder.serving`` keeps the state it had."""
    with _swap:
        fresh = open_serving_state(settings)
        holder.serving, holder.not_ready_reason = fresh, None
    return fresh
