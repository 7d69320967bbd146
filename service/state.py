"""Opening the serving state from settings, shared by the app's lifespan and the CLI."""

from __future__ import annotations

from corkboard.database import get_engine
from corkboard.settings import Settings
from features.store import feature_store
from service.pipeline import ServingState, load_serving_state


def open_serving_state(settings: Settings) -> ServingState:
    """Connect to the database and feature store of ``settings`` and load the serving models."""
    return load_serving_state(get_engine(settings), feature_store(settings), ef_search=settings.hnsw_ef_search)
