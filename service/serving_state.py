"""What one serving process holds: connections, the serving versions, their models and the pin cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from feast import FeatureStore
from sqlalchemy import Engine

from core.settings import Settings
from models.embedding_store import EmbeddingArtifact
from models.pin_board_graph import GraphHandle
from models.ranker import MultiTaskRanker
from models.ranker_features import FeatureEncoder
from models.text_tower import TextTower
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
class TextIndex:
    """The query tower and the pgvector version of the pins' text vectors it was trained with."""

    version: int
    model: TextTower


@dataclass(frozen=True, kw_only=True)
class ServingState:
    """What one serving process holds; built by ``service.state_loading``, swapped whole on reload."""

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
