"""The serving snapshot holds what the online store serves, row for row, in a memory-mapped file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features import store as feature_api
from features.engagement_rates import engagement_snapshots, global_rates
from features.serving_snapshot import ServingSnapshot, write_serving_snapshot

PROFILES = pd.DataFrame(
    {
        "pin_id": [1, 2, 3],
        "event_timestamp": pd.to_datetime(["2023-12-01"] * 3, utc=True),
        "category": ["garden", "food", "travel"],
        "is_ad": [False, True, False],
        "is_shopping": [False, True, False],
        "creator_id": [70, 70, 80],
    }
)
USER_PROFILES = pd.DataFrame(
    {
        "user_id": [1, 2, 3],
        "event_timestamp": pd.to_datetime(["2023-12-15", "2023-12-15", "2024-01-20"], utc=True),  # 3 signs up late
        "country": ["US", "FR", "DE"],
        "language": ["en", "fr", None],
        "age_bucket": ["18-24", "25-34", "35-44"],
    }
)


def as_values(frame: pd.DataFrame) -> list[list[object]]:
    """Rows as Python values, every missing value as None (Feast's frames hold None or NaN)."""
    return [[None if pd.isna(value) else value for value in row] for row in frame.astype(object).to_numpy()]


@pytest.mark.parametrize("until", [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)])
def test_the_snapshot_equals_what_the_online_store_serves(
    settings: Settings, event_log: pd.DataFrame, tmp_path: Path, until: datetime
) -> None:
    store = feature_api.feature_store(settings)
    feature_api.write_offline_tables(
        settings=settings,
        pin_engagement=engagement_snapshots(event_log, "pin"),
        user_engagement=engagement_snapshots(event_log, "user"),
        pin_profile=PROFILES,
        user_profile=USER_PROFILES,
        prior_means=global_rates(event_log),
    )
    feature_api.apply_definitions(store)
    start, end = feature_api.materialize_online(store, until)
    rows = write_serving_snapshot(settings.feature_dir, start, end, tmp_path / "snapshot")
    snapshot = ServingSnapshot.load(tmp_path / "snapshot")

    # Before 2024-01-20 user 3 has engagement but no profile; after the window's end nothing is copied.
    assert rows == {"user_id": 3, "pin_id": 3}
    for key, ids in (("pin_id", np.array([3, 1, 2])), ("user_id", np.array([2, 3, 1]))):
        held, mask = snapshot.rows(key, ids)
        assert mask.all()
        served = feature_api.online_features(store, **{f"{key}s": ids.tolist()})
        assert held.columns.tolist() == served.columns.tolist() == feature_api.online_columns(key)
        assert as_values(held) == as_values(served)


def test_rows_it_lacks_are_marked_for_the_online_store(
    settings: Settings, event_log: pd.DataFrame, tmp_path: Path
) -> None:
    feature_api.write_offline_tables(
        settings=settings,
        pin_engagement=engagement_snapshots(event_log, "pin"),
        user_engagement=engagement_snapshots(event_log, "user"),
        pin_profile=PROFILES,
        user_profile=USER_PROFILES,
    )
    now = datetime(2024, 2, 1, tzinfo=UTC)
    write_serving_snapshot(settings.feature_dir, now.replace(year=2000), now, tmp_path / "snapshot")
    held, mask = ServingSnapshot.load(tmp_path / "snapshot").rows("user_id", np.array([4, 2, 0, 1]))
    assert mask.tolist() == [False, True, False, True]
    assert held["user_id"].tolist() == [2, 1]
