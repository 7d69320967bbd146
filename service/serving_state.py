"""What one serving process holds: connections, the serving versions, their models and the pin cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from feast import FeatureStore
from sqlalchemy import Engine

from core.settings import Settings
from features.serving_snapshot import SNAPSHOT_KIND
from models.embedding_store import EmbeddingArtifact
from models.engagements import Engagements
from models.pin_board_graph import GRAPH_KIND, PinBoardGraph
from models.pinnersage import OfflineMedoids
from models.ranker_features import FeatureEncoder
from models.served.ranker import ServedRanker
from models.served.text_tower import ServedTextTower
from models.served.user_tower import ServedUserTower
from service.database_guard import DatabaseGuard
from service.feature_tables import PinTable, UserTable


@dataclass(frozen=True)
class UserVectors:
    """Stored user vectors of one version, looked up in memory instead of per request."""

    version: int
    user_ids: np.ndarray  # sorted
    vectors: np.ndarray

    def vector(self, user_id: int) -> np.ndarray | None:
        """The user's vector, or None for a user without one."""
        row = int(np.searchsorted(self.user_ids, user_id))
        return self.vectors[row] if row < len(self.user_ids) and self.user_ids[row] == user_id else None


@dataclass(frozen=True)
class PinVectors:
    """One learned kind's pin vectors, row-aligned with the serving catalogue's pin rows (zeros
    for a pin it lacks), and the pgvector version they are searched in (None: not indexed)."""

    version: int | None
    vectors: np.ndarray


@dataclass(frozen=True)
class TwoTowerUsers:
    """The two-tower version's user side: the user tower that embeds a user on request from their
    latest engagements, every catalogue user's feature codes, and the vectors stored at
    materialization (the fallback when the history is unavailable)."""

    version: int
    tower: ServedUserTower
    user_ids: np.ndarray  # sorted
    codes: np.ndarray  # row-aligned with user_ids: ``user_feature_codes`` in the tower's vocabularies
    stored: UserVectors

    def on_request(self, user_id: int, engagements: Engagements) -> np.ndarray:
        """The user's vector from ``engagements`` and their feature codes (none for a user who
        arrived after the load)."""
        row = int(np.searchsorted(self.user_ids, user_id))
        known = row < len(self.user_ids) and self.user_ids[row] == user_id
        codes = self.codes[row] if known else np.zeros(self.codes.shape[1], dtype=np.int64)
        oldest_first = np.argsort(engagements.ts_us, kind="stable")
        return self.tower.user_vector(engagements.pin_ids[oldest_first], engagements.ts_us[oldest_first] / 1e6, codes)


@dataclass(frozen=True)
class TextIndex:
    """The query tower (its token table at 8 bits, ``ServedTextTower.quantized``) and the pgvector
    version of the pins' text vectors it was trained with."""

    version: int
    model: ServedTextTower


@dataclass(frozen=True)
class ServedGraph:
    """The serving version of the pin-board graph, memory-mapped."""

    version: int
    graph: PinBoardGraph


@dataclass(frozen=True, kw_only=True)
class ServingState:
    """What one serving process holds; built by ``service.state_loading``, swapped whole on reload."""

    engine: Engine
    store: FeatureStore
    embedding_version: int
    ranker_version: int
    vectors: EmbeddingArtifact
    ranker: ServedRanker
    encoder: FeatureEncoder
    pins: PinTable
    users: UserTable
    text: TextIndex
    graph: ServedGraph
    popular: dict[tuple[str, str], np.ndarray]  # (country, language) -> pin rows, most engaged first
    defaults: dict[str, float]
    settings: Settings
    database: DatabaseGuard  # every database step of a request goes through it
    two_tower: TwoTowerUsers | None = None  # None: no two-tower index yet, so no "two_tower" source
    # Pin vectors of each learned kind served ("pinsage", "text", "visual"), for the
    # ranker's similarities and the sources searched from them.
    learned: dict[str, PinVectors] = field(default_factory=dict)
    feature_snapshot_version: int | None = None  # None: the features were read from Feast
    medoids: OfflineMedoids | None = None  # each user's PinnerSage medoids in the embedding; None: none stored

    @property
    def two_tower_version(self) -> int | None:
        return None if self.two_tower is None else self.two_tower.version

    @property
    def pinsage(self) -> PinVectors | None:
        """PinSAGE's pin vectors and partition; None: no PinSAGE index yet, so no "pinsage" source."""
        return self.learned.get("pinsage")

    @property
    def model_versions(self) -> dict[str, int]:
        versions = {
            "pin_embedding": self.embedding_version,
            "pin_text": self.text.version,
            "ranker": self.ranker_version,
            GRAPH_KIND: self.graph.version,
        }
        if self.two_tower_version is not None:
            versions["two_tower"] = self.two_tower_version
        if self.pinsage is not None and self.pinsage.version is not None:
            versions["pinsage"] = self.pinsage.version
        if self.feature_snapshot_version is not None:
            versions[SNAPSHOT_KIND] = self.feature_snapshot_version
        return versions
