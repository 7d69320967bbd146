"""Dagster resources: thin handles on corkboard's database, source, feature store and artifacts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource
from feast import FeatureStore
from sqlalchemy import Engine

from sql.migrate import migrated_engine
from core.settings import Settings, get_settings
from core.sources import QuarantineReport, load_world
from core.world import TABLES, World, conform
from features.store import feature_store
from sql.versions import prune_versions


class Database(ConfigurableResource):
    """Postgres+pgvector: CORKBOARD_DATABASE_URL, or the embedded server under the data dir."""

    def engine(self) -> Engine:
        return migrated_engine(get_settings())


class WorldSource(ConfigurableResource):
    """Where catalogue and events come from: a synthetic size, ``ml100k`` or a folder of files.

    Generated worlds are cached as parquet under the data dir, so that each daily partition
    reads its slice instead of generating the world again; a folder is re-read every time.
    """

    world: str | None = None

    @property
    def name(self) -> str:
        return self.world or get_settings().world

    def _cache_dir(self, settings: Settings) -> Path | None:
        if Path(self.name).is_dir():
            return None
        return settings.source_dir / self.name

    def load(self) -> tuple[World, QuarantineReport]:
        """The whole world and the report of rows quarantined while reading it."""
        settings = get_settings()
        cache = self._cache_dir(settings)
        if cache is not None and (cache / "events.parquet").exists():
            frames = {name: pd.read_parquet(cache / f"{name}.parquet") for name in TABLES}
            return World(**{name: conform(name, frame) for name, frame in frames.items()}), QuarantineReport()
        settings.source_dir.mkdir(parents=True, exist_ok=True)
        world, report = load_world(self.name, quarantine_path=settings.source_dir / "quarantine.parquet")
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for name in TABLES:  # events last: its presence marks a complete cache
                partial = cache / f"{name}.parquet.tmp"
                world.table(name).to_parquet(partial, index=False)
                partial.replace(cache / f"{name}.parquet")
        return world, report


class FeatureStoreResource(ConfigurableResource):
    """The Feast repository in features/, with stores under the data dir."""

    def store(self) -> FeatureStore:
        return feature_store(get_settings())


class ArtifactStore(ConfigurableResource):
    """Model files under ``<data_dir>/models/<kind>/``; old versions pruned after each swap."""

    keep_previous: int = 2  # older versions kept per kind for rollback, beside the serving one

    def path_for(self, kind: str, name: str) -> Path:
        folder = get_settings().model_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def prune(self, engine: Engine, *, kind: str) -> list[int]:
        """Delete versions of ``kind`` beyond the rollback window, rows first, then their files.

        Returns the pruned version numbers. Only files under the model dir are deleted.
        """
        with engine.begin() as conn:
            pruned = prune_versions(conn, kind=kind, keep_previous=self.keep_previous)
        model_dir = get_settings().model_dir.resolve()
        for version in pruned:
            artifact = Path(version.artifact).resolve()
            if artifact.is_relative_to(model_dir):
                artifact.unlink(missing_ok=True)
        return [version.version for version in pruned]
