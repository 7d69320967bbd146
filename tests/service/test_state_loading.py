"""Loading the serving state of the tiny world: every served vector kind must have the index's width."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.settings import get_settings
from features.store import feature_store
from models.embedding_width import EMBEDDING_DIM
from service.database_guard import DatabaseGuard
from service.state_loading import ModelFileError, read_stored_serving_data, serving_state_from
from sql.migrate import migrated_engine


def test_a_two_tower_version_of_another_width_is_refused_at_load(materialized_tiny: Path) -> None:
    settings = get_settings()
    engine = migrated_engine(settings)
    with engine.connect() as conn:
        stored = read_stored_serving_data(conn)
    assert stored.two_tower is not None and stored.two_tower_users is not None
    assert stored.two_tower_users.vectors.shape[1] == EMBEDDING_DIM
    # The pgvector column cannot hold another width, so the narrow vectors are handed to the loader directly.
    narrow = dataclasses.replace(stored.two_tower_users, vectors=stored.two_tower_users.vectors[:, :32])
    with pytest.raises(ModelFileError, match=f"two_tower version {stored.two_tower.version} .*32 dimensions"):
        serving_state_from(
            dataclasses.replace(stored, two_tower_users=narrow),
            engine=engine,
            store=feature_store(settings),
            settings=settings,
            database=DatabaseGuard(engine, deadline_ms=settings.database_deadline_ms),
        )
