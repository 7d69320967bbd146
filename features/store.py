"""The Python face of corkboard's Feast store: build it, fill it, read features from it."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureStore, RepoConfig

from core.atomic_files import atomic_path
from core.settings import Settings, get_settings
from features.engagement_rates import engagement_defaults
from features.feast_objects import OFFLINE_TABLES, VIEW_SPECS, offline_path, repo_objects
from features.offline_store import STORE_TYPE as BATCHED_FILE_STORE
from features.point_in_time import utc_ns, view_as_of

if TYPE_CHECKING:
    import psycopg

PROJECT = "corkboard"
# An offline table to write: one frame, or consecutive frames of it.
Frames = pd.DataFrame | Iterable[pd.DataFrame]
ENTITY_VIEWS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_engagement", "user_profile"),
    "pin_id": ("pin_engagement", "pin_profile"),
}


def feature_store(settings: Settings | None = None) -> FeatureStore:
    """A FeatureStore on ``settings.feature_dir``: registry.db, online.db or Postgres, files.

    Creates the folders it needs; the same configuration as ``features/repo/feature_store.yaml``.
    """
    settings = settings or get_settings()
    # Absolute, because the Feast CLI changes directory and relative paths would move with it.
    feature_dir = settings.feature_dir.resolve()
    (feature_dir / "offline").mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project=PROJECT,
        provider="local",
        registry=str(feature_dir / "registry.db"),
        online_store=_online_store_config(settings, feature_dir),
        offline_store={"type": BATCHED_FILE_STORE},
        entity_key_serialization_version=3,
        repo_path=feature_dir,
    )
    return FeatureStore(repo_path=str(feature_dir), config=config)


def _online_store_config(settings: Settings, feature_dir: Path) -> dict[str, Any]:
    if settings.online_store == "sqlite":
        return {"type": "sqlite", "path": str(feature_dir / "online.db")}
    # Imported here so that SQLite users never touch the database layer.
    from core.database import connection_params

    params = connection_params(settings)
    return {
        "type": "postgres",
        **{name: params[name] for name in ("host", "port", "database", "user", "password")},
        # Feast sets search_path to db_schema; pgvector lives in public (DESIGN.md section 4).
        "db_schema": "public",
    }


def profile_tables(pins: pd.DataFrame, users: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offline pin_profile and user_profile frames from the World's pins and users tables."""
    pin_profile = pd.DataFrame(
        {
            "pin_id": pins["pin_id"].astype("int64"),
            "event_timestamp": pd.to_datetime(pins["created_at"], utc=True),
            "category": pins["category"].astype("string"),
            "is_ad": pins["is_ad"].astype(bool),
            "is_shopping": pins["merchant_id"].notna(),
            "creator_id": pins["creator_id"].astype("int64"),
        }
    )
    user_profile = pd.DataFrame(
        {
            "user_id": users["user_id"].astype("int64"),
            "event_timestamp": pd.to_datetime(users["signup_at"], utc=True),
            **{c: users[c].astype("string") for c in ("country", "language", "age_bucket")},
        }
    )
    return pin_profile, user_profile


def write_offline_tables(
    *,
    settings: Settings | None = None,
    pin_engagement: Frames,
    user_engagement: Frames,
    pin_profile: Frames,
    user_profile: Frames,
    prior_means: Mapping[str, float] | None = None,
) -> dict[str, int]:
    """Replace each feature view's parquet file atomically; returns rows written per table.

    A table is a frame or consecutive frames (``engagement_snapshot_blocks``), written one at a
    time. ``prior_means`` (``engagement_rates.global_rates`` of the same log) is kept beside the
    tables when given, for ``feature_defaults``.
    """
    settings = settings or get_settings()
    tables = dict(zip(OFFLINE_TABLES, (pin_engagement, user_engagement, pin_profile, user_profile)))
    rows = {table: _write_parquet(offline_path(settings.feature_dir, table), data) for table, data in tables.items()}
    if prior_means is not None:
        with atomic_path(_priors_path(settings)) as unfinished:
            unfinished.write_text(json.dumps(dict(prior_means), indent=2, sort_keys=True))
    return rows


def _write_parquet(path: Path, frames: Frames) -> int:
    """Write ``frames`` to one parquet file at ``path``, whole or not at all; returns its rows."""
    tables = (
        pa.Table.from_pandas(frame, preserve_index=False)
        for frame in ([frames] if isinstance(frames, pd.DataFrame) else frames)
    )
    first = next(tables, None)
    if first is None:
        raise ValueError(f"no frame to write to {path.name}")
    rows = 0
    with atomic_path(path) as unfinished, pq.ParquetWriter(unfinished, first.schema) as writer:
        for table in itertools.chain([first], tables):
            writer.write_table(table)
            rows += table.num_rows
    return rows


def latest_offline_rows(table: str, columns: list[str], settings: Settings | None = None) -> pd.DataFrame:
    """``columns`` of the rows of the offline ``table`` stamped with its latest timestamp."""
    path = offline_path((settings or get_settings()).feature_dir, table)
    latest = pc.max(pq.read_table(path, columns=["event_timestamp"])["event_timestamp"])
    return pq.read_table(path, columns=columns, filters=pc.field("event_timestamp") == latest).to_pandas()


def _priors_path(settings: Settings) -> Path:
    return settings.feature_dir / "offline" / "engagement_priors.json"


def apply_definitions(store: FeatureStore) -> None:
    """Register corkboard's entities, views and service; sources sit beside the store's registry."""
    store.apply(repo_objects(_feature_dir(store)))


def materialize_online(store: FeatureStore, end: datetime) -> tuple[datetime, datetime]:
    """Copy online the latest row per entity stamped in [earliest offline timestamp, ``end``);
    returns that window."""
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    paths = [offline_path(_feature_dir(store), table) for table in OFFLINE_TABLES]
    start = _earliest_timestamp(paths)
    store.materialize(start_date=start, end_date=end)
    return start, end


def _feature_dir(store: FeatureStore) -> Path:
    # Both feature_store() and the CLI's yaml keep the registry at the top of the feature folder.
    return Path(store.config.registry.path).parent


def _earliest_timestamp(paths: Iterable[Path]) -> datetime:
    tables = (pq.read_table(path, columns=["event_timestamp"]) for path in paths)
    return min(pc.min(table["event_timestamp"]).as_py() for table in tables)


def online_features(
    store: FeatureStore,
    *,
    user_ids: Iterable[int] | None = None,
    pin_ids: Iterable[int] | None = None,
    connection: psycopg.Connection | None = None,
) -> pd.DataFrame:
    """Online features of users (engagement + profile) or of pins, one row per id in input order.

    Give exactly one of ``user_ids`` and ``pin_ids``. Columns are ``<view>__<feature>``, the
    names ``historical_features`` returns; unknown ids get missing values. With the Postgres online
    store, ``connection`` is the one to read over (see ``features.postgres_online``); without it
    the read takes Feast's own connection, fit only for a process that reads once (the CLI).
    """
    key, ids = _entity_ids(user_ids, pin_ids)
    refs = [column.replace("__", ":", 1) for column in online_columns(key)[1:]]
    rows = {key: ids}
    if connection is None:
        response = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True)
    elif on_postgres(store):
        from features.postgres_online import read_over

        response = read_over(connection, store, features=refs, entity_rows=rows)
    else:
        raise ValueError("a connection is read over only with the Postgres online store")
    # Feast returns features in no fixed order; serving needs the same columns every call.
    return response.to_df()[online_columns(key)]


def absent_features(*, user_ids: Iterable[int] | None = None, pin_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """What ``online_features`` returns for ids the online store does not hold (an anonymous user,
    or any id while the store cannot be read): every feature missing, with the same columns."""
    key, ids = _entity_ids(user_ids, pin_ids)
    missing = pd.Series([None] * len(ids), dtype=object)
    return pd.DataFrame({key: pd.Series(ids, dtype="int64"), **{column: missing for column in online_columns(key)[1:]}})


def on_postgres(store: FeatureStore) -> bool:
    """Whether ``store``'s online store is the Postgres one (else SQLite, a file beside the registry)."""
    return store.config.online_store.type == "postgres"


@contextlib.contextmanager
def online_connection(store: FeatureStore, settings: Settings | None = None) -> Iterator[psycopg.Connection | None]:
    """For ``online_features`` reads of one load: a fresh connection to the Postgres online store
    with the engine's connect timeout and TCP timeouts, closed on exit; None with SQLite."""
    if not on_postgres(store):
        yield None
        return
    from features.postgres_online import fresh_connection

    timeout = (settings or get_settings()).database_connect_timeout_s
    with fresh_connection(store, connect_timeout_s=timeout) as connection:
        yield connection


def _entity_ids(user_ids: Iterable[int] | None, pin_ids: Iterable[int] | None) -> tuple[str, list[int]]:
    """The join key and the ids of exactly one of ``user_ids`` and ``pin_ids``."""
    if user_ids is not None and pin_ids is None:
        return "user_id", [int(i) for i in user_ids]
    if pin_ids is not None and user_ids is None:
        return "pin_id", [int(i) for i in pin_ids]
    raise ValueError("give exactly one of user_ids and pin_ids")


def online_columns(key: str) -> list[str]:
    """The columns ``online_features`` returns for the join key ``key``: the key, then
    ``<view>__<feature>`` of each of its views."""
    return [key, *(f"{view}__{feature}" for view in ENTITY_VIEWS[key] for feature in VIEW_SPECS[view][1])]


def historical_features(store: FeatureStore, entity_rows: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time ``ranking`` features for rows with user_id, pin_id and event_timestamp.

    Returns one row per input row, in input order, with every input column kept; a feature
    row is seen only when its timestamp is at or before the row's and within the view's TTL,
    otherwise its columns are NaN: what the store's ``get_historical_features`` answers, read
    view by view from the offline files by ``features.point_in_time`` in the memory of the rows
    asked for (Feast's file store reads and joins every row of a view's file).
    """
    rows = entity_rows.assign(event_timestamp=utc_ns(entity_rows["event_timestamp"]))
    for projection in store.get_feature_service("ranking").feature_view_projections:
        view = store.get_feature_view(projection.name)
        found = view_as_of(view, [feature.name for feature in projection.features], rows)
        rows = rows.merge(found, on=[*view.join_keys, "event_timestamp"], how="left", validate="many_to_one")
    rows.index = entity_rows.index
    return rows


def feature_defaults(settings: Settings | None = None) -> dict[str, float]:
    """Values for an entity without engagement: 0 for counts, the stored prior means for rates."""
    prior_means = json.loads(_priors_path(settings or get_settings()).read_text())
    return engagement_defaults(prior_means)


def fill_missing_features(frame: pd.DataFrame, defaults: Mapping[str, float]) -> pd.DataFrame:
    """``frame`` with NaN in ``<view>__<feature>`` columns set to ``defaults[feature]``.

    Pass ``feature_defaults()``: counts become 0 and rates the prior mean; profiles stay missing.
    """
    # Feast hands back object columns when every value is missing; defaults are numeric.
    return frame.assign(
        **{
            column: pd.to_numeric(frame[column]).fillna(defaults[feature])
            for column in frame
            if (feature := column.split("__")[-1]) in defaults
        }
    )
