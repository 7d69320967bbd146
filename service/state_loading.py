"""Loading the serving state: the active versions and catalogue from Postgres, the models from
their files, every vector width checked, and the pin and user feature tables from the set's
feature snapshot (Feast for what it lacks). The largest arrays go through ``shared``, which under
several server processes keeps one copy of each for all of them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from feast import FeatureStore
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core.database import request_engine
from core.settings import Settings
from features.serving_snapshot import SNAPSHOT_KIND, ServingSnapshot
from features.store import feature_defaults, feature_store
from models.checkpoint import CheckpointError
from models.embedding_store import EmbeddingArtifact
from models.embedding_width import EmbeddingWidthError, check_embedding_width
from models.pin_board_graph import GRAPH_KIND, load_mmap
from models.pin_vector_file import PinVectorFile
from models.pinnersage import OfflineMedoids
from models.pinsage.pin_vectors import load_pinsage_vectors
from models.ranker_similarities import VectorTable
from models.served.ranker import ServedRanker
from models.served.text_tower import ServedTextTower, load_text_index
from models.served.user_tower import ServedUserTower
from models.text_pin_vectors import text_vectors_of
from models.text_tower_config import pin_texts
from models.two_tower.pin_vectors import load_two_tower_vectors
from models.two_tower.user_features import user_feature_codes
from models.visual.vectors import load_visual_vectors
from service.candidates import served_neighbours
from service.database_guard import DatabaseGuard, DatabaseUnavailable
from service.feature_tables import OnlineRows, pin_table, user_table
from service.index_warmup import warm_indexes
from service.serving_state import PinVectors, ServedGraph, ServingState, TextIndex, TwoTowerUsers, UserVectors
from service.shared_arrays import shared
from sql.catalogue import pin_texts_of, read_table
from sql.embeddings import all_user_vectors, request_session
from sql.events import popular_by_locale
from sql.medoids import user_medoids
from sql.migrate import migrated_engine
from sql.versions import ModelVersion, active_versions

POPULAR_PER_LOCALE = 500
# Not the titles and descriptions: the text index keeps every pin's vector, and the texts of the
# pins it lacks are read by id (``_embedded_by_text``); on large they were 200 of the pins' 300 MB.
PIN_COLUMNS = ("pin_id", "creator_id", "is_ad", "merchant_id", "created_at", "image_signature", "category")
T = TypeVar("T")
log = logging.getLogger("corkboard.service")


class NotReadyError(RuntimeError):
    """Serving state is missing: nothing has been materialized yet, or a model is absent."""


class ModelFileError(RuntimeError):
    """A serving model's file is missing, corrupt, or does not fit the rest of the serving state."""


# What loading can fail with, other than a bug: all leave the state being served untouched.
LOAD_ERRORS = (NotReadyError, ModelFileError, DatabaseUnavailable, SQLAlchemyError)


@dataclass(frozen=True)
class StoredServingData:
    """What loading reads from Postgres: the active versions, the catalogue, each locale's most
    engaged pins, the two-tower user vectors and the embedding's user medoids."""

    embedding: ModelVersion | None
    ranker: ModelVersion | None
    text: ModelVersion | None
    two_tower: ModelVersion | None
    two_tower_users: UserVectors | None  # None exactly when ``two_tower`` is
    pins: pd.DataFrame
    users: pd.DataFrame
    popular: pd.DataFrame  # country, language, pin_id: best first within each locale
    pinsage: ModelVersion | None = None
    visual: ModelVersion | None = None
    graph: ModelVersion | None = None
    feature_snapshot: ModelVersion | None = None  # None: every feature is read from Feast
    medoids: OfflineMedoids | None = None  # the embedding's user medoids; None: none stored

    @property
    def searched_versions(self) -> list[int]:
        """The versions whose pgvector partitions the surfaces of a state built from this data
        search by HNSW: the embedding's, the text index's, PinSAGE's and the two-tower's."""
        versions = [version.version for version in (self.embedding, self.text, self.pinsage) if version is not None]
        if self.two_tower is not None and self.two_tower_users is not None:
            versions.append(self.two_tower.version)
        return versions


def read_stored_serving_data(conn: Connection) -> StoredServingData:
    """Everything loading needs from the database, over one connection; the active versions by one
    statement, so they are one activation's set (``load_serving_state`` reads the rest in the same
    snapshot)."""
    versions = active_versions(conn)
    two_tower = versions.get("two_tower")
    embedding = versions.get("pin_embedding")
    return StoredServingData(
        embedding=embedding,
        ranker=versions.get("ranker"),
        text=versions.get("pin_text"),
        two_tower=two_tower,
        two_tower_users=None
        if two_tower is None
        else UserVectors(two_tower.version, *all_user_vectors(conn, version=two_tower.version)),
        pins=read_table(conn, table="pins", columns=PIN_COLUMNS),
        users=read_table(conn, table="users", columns=("user_id", "country", "language", "age_bucket")),
        popular=popular_by_locale(conn, limit=POPULAR_PER_LOCALE),
        pinsage=versions.get("pinsage"),
        visual=versions.get("pin_visual"),
        graph=versions.get(GRAPH_KIND),
        feature_snapshot=versions.get(SNAPSHOT_KIND),
        medoids=None if embedding is None else user_medoids(conn, version=embedding.version),
    )


def serving_state_from(
    stored: StoredServingData, *, engine: Engine, store: FeatureStore, settings: Settings, database: DatabaseGuard
) -> ServingState:
    """The serving state of ``stored``: its models loaded from their files, the width of every
    vector kind checked, and every pin's and user's features read from its feature snapshot,
    memory-mapped, and from ``store`` for those the snapshot lacks.

    Raises NotReadyError when a serving model or the graph is missing, ModelFileError when a
    model file is corrupt or its vectors do not fit the pgvector columns."""
    if stored.embedding is None or stored.ranker is None or stored.text is None or stored.graph is None:
        raise NotReadyError(
            "no serving pin embedding, text index, ranker or pin-board graph: run `corkboard materialize` first"
        )
    loaded = _load_model(stored.embedding, EmbeddingArtifact.load)
    vectors = replace(
        loaded,
        model=replace(loaded.model, pin_vectors=shared(loaded.model.pin_vectors)),
        neighbours=served_neighbours(loaded.neighbours),
    )
    ranker, encoder = _load_model(stored.ranker, ServedRanker.load)
    text_tower, text_pins = _load_model(stored.text, load_text_index)
    _check_width(stored.embedding, vectors.model.pin_vectors.shape[1])
    _check_width(stored.text, text_tower.config.dim)
    # The catalogue's text vectors are the text index's, or come from the float token table as in
    # training; only the served query tower holds it at 8 bits (``ServedTextTower.quantized`` below).
    text = (text_pins, _embedded_by_text(engine, text_tower))
    learned = learned_pin_vectors(stored, vectors.model.pin_ids, text, encoder.similarities)
    two_tower = None
    if stored.two_tower is not None and stored.two_tower_users is not None:
        _check_width(stored.two_tower, stored.two_tower_users.vectors.shape[1])
        tower = _load_model(stored.two_tower, ServedUserTower.load)
        _check_width(stored.two_tower, tower.config.dim)  # its on-request vectors search the same index
        two_tower = two_tower_users(stored.two_tower.version, tower, stored.users, stored.two_tower_users)
    defaults = feature_defaults(settings)
    popular = {
        locale: vectors.model.pin_rows(group["pin_id"].to_numpy())
        for locale, group in stored.popular.groupby(["country", "language"], sort=False)
    }
    popular[("", "")] = vectors.popular
    snapshot = None if stored.feature_snapshot is None else _load_model(stored.feature_snapshot, ServingSnapshot.load)
    rows = OnlineRows(store, snapshot)
    pins = pin_table(rows, encoder, vectors.model.pin_ids, stored.pins, defaults)
    return ServingState(
        engine=engine,
        store=store,
        embedding_version=stored.embedding.version,
        ranker_version=stored.ranker.version,
        vectors=vectors,
        ranker=ranker,
        encoder=encoder,
        pins=replace(pins, features=shared(pins.features)),
        users=user_table(rows, encoder, stored.users, defaults),
        text=TextIndex(stored.text.version, text_tower.quantized(shared)),
        graph=ServedGraph(stored.graph.version, _load_model(stored.graph, load_mmap)),
        popular=popular,
        defaults=defaults,
        settings=settings,
        database=database,
        two_tower=two_tower,
        learned=learned,
        feature_snapshot_version=None if stored.feature_snapshot is None else stored.feature_snapshot.version,
        medoids=None if stored.medoids is None else replace(
            stored.medoids, candidate_pin_ids=shared(stored.medoids.candidate_pin_ids)
        ),
    )


def learned_pin_vectors(
    stored: StoredServingData,
    pin_ids: np.ndarray,
    text: tuple[PinVectorFile | None, Callable[[np.ndarray], np.ndarray]],
    similarities: Sequence[str],
) -> dict[str, PinVectors]:
    """The catalogue's PinSAGE vectors (searched by the "pinsage" source), its two-tower pin vectors
    (the page's two-tower prior), and its text and visual vectors where the ranker reads their
    similarities; each aligned with ``pin_ids``. ``text`` is the pin vectors the text index's file
    keeps and the text tower's embedding of pins by id, called only for the pins they lack."""
    learned = {}
    if stored.pinsage is not None:
        pinsage = _load_model(stored.pinsage, load_pinsage_vectors)
        _check_width(stored.pinsage, pinsage.vectors.shape[1])
        learned["pinsage"] = PinVectors(
            stored.pinsage.version, shared(_aligned(pinsage.pin_ids, pinsage.vectors, pin_ids))
        )
    if stored.two_tower is not None and stored.two_tower_users is not None:
        two_tower = _load_model(stored.two_tower, load_two_tower_vectors)
        _check_width(stored.two_tower, two_tower.vectors.shape[1])
        learned["two_tower"] = PinVectors(
            stored.two_tower.version, shared(_aligned(two_tower.pin_ids, two_tower.vectors, pin_ids))
        )
    if "text" in similarities and stored.text is not None:
        learned["text"] = PinVectors(stored.text.version, shared(text_vectors_of(pin_ids, *text)))
    if "visual" in similarities and stored.visual is not None:
        visual = _load_model(stored.visual, load_visual_vectors)
        learned["visual"] = PinVectors(None, shared(_aligned(visual.pin_ids, visual.vectors, pin_ids)))
    return learned


def _embedded_by_text(engine: Engine, tower: ServedTextTower) -> Callable[[np.ndarray], np.ndarray]:
    """``tower``'s vectors of pins by id, from their titles and descriptions in the catalogue: for
    pins the text index's file lacks (added since it ran), read after the loading snapshot: a pin
    keeps its text, and one gone from the catalogue since embeds as an empty text."""

    def embed(pin_ids: np.ndarray) -> np.ndarray:
        with engine.connect() as conn:
            return tower.embed(pin_texts(pin_texts_of(conn, pin_ids)))

    return embed


def two_tower_users(version: int, tower: ServedUserTower, users: pd.DataFrame, stored: UserVectors) -> TwoTowerUsers:
    """The two-tower's user side: its tower, the feature codes of every catalogue user, the stored vectors."""
    users = users.sort_values("user_id", ignore_index=True)
    features = users.reindex(columns=list(tower.config.user_feature_names))
    codes = user_feature_codes(features, tower.config, len(users))
    return TwoTowerUsers(version, tower, users["user_id"].to_numpy(dtype=np.int64), codes, stored)


def _aligned(ids: np.ndarray, vectors: np.ndarray, pin_ids: np.ndarray) -> np.ndarray:
    """``vectors`` (of ``ids``) in the order of ``pin_ids``; zeros for a pin they lack."""
    return VectorTable(ids, vectors).of(pin_ids)


def read_serving_snapshot(engine: Engine) -> StoredServingData:
    """``read_stored_serving_data`` in one repeatable-read snapshot: an activation, rollback or
    pruning that commits meanwhile is not half seen."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        return read_stored_serving_data(conn)


def load_serving_state(engine: Engine, store: FeatureStore, settings: Settings, database: DatabaseGuard) -> ServingState:
    """Read the serving versions from ``engine`` (``read_serving_snapshot``) and build the serving
    state of them (``serving_state_from``); requests will reach the database through ``database``."""
    stored = read_serving_snapshot(engine)
    return serving_state_from(stored, engine=engine, store=store, settings=settings, database=database)


def open_serving_state(settings: Settings) -> ServingState:
    """Connect to the database and feature store of ``settings`` and load the serving models,
    warming the HNSW indexes they search meanwhile; raises one of LOAD_ERRORS when that is not
    possible now."""
    engine = migrated_engine(settings)  # the schema is current before anything serves from it
    session = request_session(statement_timeout_ms=settings.source_timeout_ms, ef_search=settings.hnsw_ef_search)
    guard = DatabaseGuard(request_engine(settings, session), deadline_ms=settings.database_deadline_ms)
    stored = read_serving_snapshot(engine)
    # Postgres walks the indexes on one core while the model files load on the other: on large the
    # warming took 6.7 s of the start-up after the loading. Both end before any page of this state runs.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-indexes") as pool:
        warming = pool.submit(warm_indexes, engine, stored.searched_versions)
        store = feature_store(settings)
        state = serving_state_from(stored, engine=engine, store=store, settings=settings, database=guard)
        seconds = warming.result()
    log.info("warmed the HNSW indexes of versions %s in %.1f s", sorted(set(stored.searched_versions)), seconds)
    return state


def _load_model(version: ModelVersion, load: Callable[[Path], T]) -> T:
    """``load(artifact)``, with any damage reported as a ModelFileError naming the version."""
    try:
        return load(Path(version.artifact))
    except (CheckpointError, OSError, ValueError, KeyError) as error:
        raise _model_file_error(version, error) from error


def _check_width(version: ModelVersion, width: int) -> None:
    """The vectors of ``version`` must have the width of the pgvector columns they are searched in."""
    try:
        check_embedding_width(version.kind, width)
    except EmbeddingWidthError as error:
        raise _model_file_error(version, error) from error


def _model_file_error(version: ModelVersion, error: Exception) -> ModelFileError:
    return ModelFileError(f"{version.kind} version {version.version} ({version.artifact}): {error}")
