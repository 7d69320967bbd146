"""Dagster resources: thin handles on corkboard's database, source, feature store and artifacts.

Each field is shown and validated by the Dagster UI. A field left unset takes its ``CORKBOARD_*``
setting (core/settings.py) when a run starts, so with nothing configured a run works on the
embedded Postgres under ``.corkboard``, as the CLI does.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import ConfigurableResource, MetadataValue
from feast import FeatureStore
from pydantic import Field
from sqlalchemy import Engine

from core.settings import Settings, get_settings
from core.sources import SOURCE_NAMES, QuarantineReport
from core.sources.cache import cached_world
from core.sources.files import table_files
from core.world import World
from models.pinnersage import OfflineMedoids
from features.store import feature_store
from sql.catalogue import read_table
from sql.embeddings import load_pin_partition, load_user_vectors, nearest_pin_ids
from sql.events import latest_engagements, read_actions
from sql.medoids import store_user_medoids
from sql.migrate import migrated_engine
from sql.versions import ModelVersion, activate_run, active_version, prune_versions, register_version, run_version


class OnlineStore(Enum):
    """Where Feast keeps the latest feature rows for serving."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


class CorkboardResource(ConfigurableResource):
    """A resource whose configured fields stand in for the settings of the same name."""

    data_dir: str | None = Field(
        default=None, description="Root of every generated artifact; unset: CORKBOARD_DATA_DIR, else .corkboard."
    )

    def settings(self) -> Settings:
        """The process settings, with each field configured on this resource in place of its own."""
        return settings_with(
            {
                name: value.value if isinstance(value, Enum) else value
                for name in type(self).model_fields
                if name in Settings.model_fields and (value := getattr(self, name)) is not None
            }
        )


def settings_with(configured: dict[str, Any]) -> Settings:
    """The process settings with ``configured`` values in place of their own (the same object when none)."""
    if not configured:
        return get_settings()
    return Settings.model_validate({**get_settings().model_dump(), **configured})


class ReachesDatabase(CorkboardResource):
    """A resource that reaches the database: the configured URL, or the embedded server under the data dir."""

    database_url: str | None = Field(
        default=None,
        description="Postgres with pgvector, set as EnvVar('CORKBOARD_DATABASE_URL'); "
        "unset: the embedded server under the data dir.",
    )


class Database(ReachesDatabase):
    """Postgres+pgvector. Reads and version swaps go through its methods, so that a test can stand in for them."""

    def engine(self) -> Engine:
        return migrated_engine(self.settings())

    def read_table(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        """``columns`` of one catalogue table."""
        with self.engine().connect() as conn:
            return read_table(conn, table=table, columns=columns)

    def read_actions(self, actions: tuple[str, ...]) -> pd.DataFrame:
        """user_id, pin_id, action, ts of every event whose action is in ``actions``."""
        with self.engine().connect() as conn:
            return read_actions(conn, actions=actions)

    def latest_engagements(self, limit: int) -> pd.DataFrame:
        """user_id, pin_id, action, ts of each user's latest ``limit`` engagements, as a request reads them."""
        with self.engine().connect() as conn:
            return latest_engagements(conn, limit=limit)

    def version_for_run(self, kind: str, run_id: str) -> ModelVersion | None:
        """The version of ``kind`` that the run ``run_id`` will serve: its own build, else the serving one."""
        with self.engine().connect() as conn:
            return run_version(conn, kind=kind, run_id=run_id) or active_version(conn, kind=kind)

    def stage(
        self,
        kind: str,
        artifact: Path,
        metrics: dict[str, Any],
        pins: IdVectors | None,
        users: IdVectors | None,
        run_id: str,
    ) -> tuple[int, int, int]:
        """Register a version of ``kind`` built by ``run_id`` and load its pin partition and user
        vectors (those given) beside the serving ones, in one transaction, without serving it;
        returns (version, pins, users) loaded."""
        with self.engine().begin() as conn:
            version = register_version(conn, kind=kind, artifact=str(artifact), metrics=metrics, run_id=run_id)
            loaded_pins = 0 if pins is None else load_pin_partition(
                conn, version=version, pin_ids=pins.ids, vectors=pins.vectors
            )
            loaded_users = 0 if users is None else load_user_vectors(
                conn, version=version, user_ids=users.ids, vectors=users.vectors
            )
        return version, loaded_pins, loaded_users

    def nearest_pin_ids(self, version: int, queries: np.ndarray, k: int) -> np.ndarray:
        """``[len(queries), k]`` pin ids of each query's nearest pins in ``version``'s HNSW partition,
        searched as a request searches it (``hnsw_ef_search``); -1 pads."""
        ef_search = self.settings().hnsw_ef_search
        with self.engine().begin() as conn:
            return nearest_pin_ids(conn, version=version, queries=queries, k=k, ef_search=ef_search)

    def store_medoids(self, version: int, medoids: OfflineMedoids) -> int:
        """Replace the user medoids of pin_embedding ``version``; returns the rows written."""
        with self.engine().begin() as conn:
            return store_user_medoids(conn, version=version, medoids=medoids)

    def activate_run(self, run_id: str) -> list[ModelVersion]:
        """Make every version ``run_id`` built serve, in one transaction; returns them (see
        ``sql.versions.activate_run``)."""
        with self.engine().begin() as conn:
            return activate_run(conn, run_id=run_id)

    def prune_versions(self, kind: str, keep_previous: int) -> list[ModelVersion]:
        """Delete the versions of ``kind`` beyond the rollback window with their vectors; returns them."""
        with self.engine().begin() as conn:
            return prune_versions(conn, kind=kind, keep_previous=keep_previous)


class WorldSource(CorkboardResource):
    """Where catalogue and events come from: a synthetic size, ``ml100k`` or a folder of files.

    A folder must lie under ``CORKBOARD_SOURCE_ROOT`` (else the data dir) of the process, not of
    this resource's config, so that a run launched from the UI cannot read files elsewhere.

    The world is kept as parquet under the data dir (core/sources/cache.py), so the catalogue,
    every daily partition and the CLI read the source once: a generated world is not generated
    again, a folder is not read and validated again until one of its files changes.
    """

    world: str | None = Field(
        default=None,
        description="tiny, demo, large, ml100k or a folder under CORKBOARD_SOURCE_ROOT (else the data dir); "
        "unset: CORKBOARD_WORLD, else demo.",
    )

    @property
    def name(self) -> str:
        """The named world, or the resolved path of a folder inside the source root."""
        process = get_settings()
        return allowed_world(self.settings().world, process.source_root or process.data_dir)

    def load(self) -> tuple[World, QuarantineReport]:
        """The whole world and the report of rows quarantined while reading it."""
        return cached_world(self.name, self.settings().source_dir)


class WorldOutsideRootError(ValueError):
    """A world folder, or a file in it, that resolves outside the folder sources may be read from."""


def allowed_world(name_or_path: str, root: Path) -> str:
    """``name_or_path`` when it names a world; for a folder, its resolved path, provided that it
    and each table file in it resolve (symlinks followed, ``..`` collapsed) inside ``root``."""
    if name_or_path in SOURCE_NAMES:
        return name_or_path
    root, folder = root.resolve(), Path(name_or_path).resolve()
    for path in (folder, *table_files(folder)):
        if not path.resolve().is_relative_to(root):
            raise WorldOutsideRootError(
                f"world {name_or_path[:200]!r}: {path.resolve()} is outside {root}, where sources may be read "
                f"from; name a world ({', '.join(SOURCE_NAMES)}) or a folder under CORKBOARD_SOURCE_ROOT "
                "(unset: the data dir)"
            )
    return str(folder)


class FeatureStoreResource(ReachesDatabase):
    """The Feast repository in features/, with stores under the data dir (the online one may be in the database)."""

    online_store: OnlineStore | None = Field(
        default=None,
        description="sqlite under the data dir, or postgres in the database; "
        "unset: CORKBOARD_ONLINE_STORE, else sqlite.",
    )

    def store(self) -> FeatureStore:
        return feature_store(self.settings())


@dataclass(frozen=True)
class IdVectors:
    """Row-aligned ids and vectors of the pins or users of a version."""

    ids: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class Published:
    """A version staged by a run: its number and file, the vectors loaded, and how long it took."""

    version: int
    artifact: Path
    pins: int
    users: int
    seconds: float

    def metadata(self) -> dict[str, Any]:
        """The materialization metadata every publishing asset reports."""
        loaded = {name: count for name, count in (("pins", self.pins), ("users", self.users)) if count}
        return {
            "version": self.version,
            "path": MetadataValue.path(str(self.artifact)),
            **loaded,
            "publish_seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class Activated:
    """The versions one run made the serving ones, and the versions pruning then removed."""

    versions: list[ModelVersion]
    pruned: list[int]

    def describe(self) -> str:
        serving = ", ".join(f"{version.kind} v{version.version}" for version in self.versions) or "nothing"
        return f"serving {serving}; pruned {self.pruned or 'nothing'}"


class ArtifactStore(CorkboardResource):
    """Model files under ``<data_dir>/models/<kind>/``, published as versions in ``database``."""

    database: Database
    keep_previous: int = Field(
        default=2, ge=0, description="Older versions kept per kind for rollback, beside the serving one."
    )

    def path_for(self, kind: str, name: str) -> Path:
        folder = self.settings().model_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def new_path(self, kind: str, suffix: str) -> Path:
        """A path no version of ``kind`` has used, for the file of a new one."""
        return self.path_for(kind, f"{uuid.uuid4().hex}{suffix}")

    def publish(
        self,
        kind: str,
        artifact: Path,
        metrics: dict[str, Any],
        *,
        run_id: str,
        pin_vectors: IdVectors | None = None,
        user_vectors: IdVectors | None = None,
    ) -> Published:
        """Register the saved ``artifact`` as a version of ``kind`` built by the run ``run_id`` and
        load its pin partition and user vectors (those given) beside the serving ones. It serves
        once the run has succeeded, with the rest of the run's versions (``activate_run``)."""
        started = time.perf_counter()
        version, pins, users = self.database.stage(kind, artifact, metrics, pin_vectors, user_vectors, run_id)
        return Published(version, artifact, pins, users, time.perf_counter() - started)

    def activate_run(self, run_id: str) -> Activated:
        """Make the versions the run ``run_id`` published serve, together in one transaction, then
        prune each of their kinds."""
        versions = self.database.activate_run(run_id)
        return Activated(versions, [pruned for version in versions for pruned in self.prune(version.kind)])

    def prune(self, kind: str) -> list[int]:
        """Delete versions of ``kind`` beyond the rollback window, rows first, then their files.

        Returns the pruned version numbers. Only files (or a graph's folder) under the model dir are deleted.
        """
        pruned = self.database.prune_versions(kind, self.keep_previous)
        model_dir = self.settings().model_dir.resolve()
        for version in pruned:
            artifact = Path(version.artifact).resolve()
            if not artifact.is_relative_to(model_dir):
                continue
            if artifact.is_dir():
                shutil.rmtree(artifact)
            else:
                artifact.unlink(missing_ok=True)
        return [version.version for version in pruned]
