"""The batched SQLite online store holds what Feast's SQLite store holds after the same writes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from feast import FeatureStore, RepoConfig

from core.settings import Settings
from features import store as feature_api
from features.engagement_rates import engagement_snapshots
from features.feast_objects import OFFLINE_TABLES, repo_objects
from features.offline_store import STORE_TYPE as BATCHED_FILE_STORE

PIN_PROFILES = pd.DataFrame(
    {
        "pin_id": [1, 2],
        "event_timestamp": pd.to_datetime(["2023-12-01", "2024-01-04"], utc=True),
        "category": ["garden", None],
        "is_ad": [False, True],
        "is_shopping": [False, True],
        "creator_id": [70, 80],
    }
)
USER_PROFILES = pd.DataFrame(
    {
        "user_id": [1, 2, 3],
        "event_timestamp": pd.to_datetime(["2023-12-15", "2023-12-15", "2024-01-20"], utc=True),
        "country": ["US", "FR", "DE"],
        "language": ["en", None, "de"],
        "age_bucket": ["18-24", "25-34", "35-44"],
    }
)


def feasts_own_store(feature_dir: Path, folder: Path) -> FeatureStore:
    """A store on the same offline files whose online store is Feast's SQLite store, in ``folder``."""
    folder.mkdir()
    config = RepoConfig(
        project=feature_api.PROJECT,
        provider="local",
        registry=str(folder / "registry.db"),
        online_store={"type": "sqlite", "path": str(folder / "online.db")},
        offline_store={"type": BATCHED_FILE_STORE},
        entity_key_serialization_version=3,
        repo_path=feature_dir,
    )
    store = FeatureStore(config=config)
    store.apply(repo_objects(feature_dir))
    return store


def table_rows(database: Path, view: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            f"SELECT entity_key, feature_name, value, event_ts, created_ts FROM {feature_api.PROJECT}_{view} "
            "ORDER BY entity_key, feature_name"
        ).fetchall()


def test_two_materializations_leave_the_rows_feasts_store_leaves(
    settings: Settings, event_log: pd.DataFrame, tmp_path: Path
) -> None:
    feature_api.write_offline_tables(
        settings=settings,
        pin_engagement=engagement_snapshots(event_log, "pin"),
        user_engagement=engagement_snapshots(event_log, "user"),
        pin_profile=PIN_PROFILES,
        user_profile=USER_PROFILES,
    )
    ours = feature_api.feature_store(settings)
    feature_api.apply_definitions(ours)
    theirs = feasts_own_store(settings.feature_dir, tmp_path / "feast")
    # The second window rewrites keys the first wrote (pin 1's engagement, user 1's) and adds some.
    for until in (datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)):
        start, end = feature_api.materialize_online(ours, until)
        theirs.materialize(start_date=start, end_date=end)
        for view in OFFLINE_TABLES:
            rows = table_rows(settings.feature_dir / "online.db", view)
            assert rows and rows == table_rows(tmp_path / "feast" / "online.db", view)
    served = feature_api.online_features(ours, user_ids=[3, 1])
    assert served["user_profile__country"].tolist() == ["DE", "US"]
