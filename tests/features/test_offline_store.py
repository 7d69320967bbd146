"""The batched file offline store materializes what Feast's file store does, a few rows at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import FileSource, RepoConfig
from feast.infra.offline_stores.dask import DaskOfflineStore

from features import point_in_time
from features.offline_store import STORE_TYPE, BatchedFileOfflineStore

FEATURES = ["clicks", "label"]


def offline_file(path: Path, seed: int = 0) -> pd.DataFrame:
    """300 rows of 20 keys at distinct hours of January 2024, shuffled, written to ``path``."""
    rng = np.random.default_rng(seed)
    hours = rng.choice(31 * 24, size=300, replace=False)
    frame = pd.DataFrame(
        {
            "pin_id": rng.integers(1, 21, size=300),
            "event_timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(hours, unit="h"),
            "clicks": rng.integers(0, 100, size=300),
            "label": rng.choice(["a", "b", None], size=300),
        }
    )
    frame.to_parquet(path, index=False)
    return frame


def repo_config(tmp_path: Path) -> RepoConfig:
    return RepoConfig(
        project="test",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        offline_store={"type": STORE_TYPE},
        entity_key_serialization_version=3,
        repo_path=tmp_path,
    )


@pytest.mark.parametrize("rows_per_read", [point_in_time.ROWS_PER_READ, 7, 1])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),  # every row
        (datetime(2024, 1, 3, 5, tzinfo=UTC), datetime(2024, 1, 9, 17, tzinfo=UTC)),  # some keys have none
        (datetime(2024, 2, 2, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),  # no row
    ],
)
def test_materialization_reads_the_rows_feasts_file_store_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows_per_read: int, start: datetime, end: datetime
) -> None:
    frame = offline_file(tmp_path / "pins.parquet")
    monkeypatch.setattr(point_in_time, "ROWS_PER_READ", rows_per_read)
    config = repo_config(tmp_path)
    source = FileSource(name="pins", path=str(tmp_path / "pins.parquet"), timestamp_field="event_timestamp")
    pulls = [
        store.pull_latest_from_table_or_query(config, source, ["pin_id"], FEATURES, "event_timestamp", None, start, end)
        for store in (BatchedFileOfflineStore, DaskOfflineStore)
    ]
    ours, theirs = (pull.to_df()[["pin_id", "event_timestamp", *FEATURES]].sort_values("pin_id") for pull in pulls)
    in_window = frame[(frame["event_timestamp"] >= start) & (frame["event_timestamp"] < end)]
    assert len(ours) == in_window["pin_id"].nunique()
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True))


def test_the_later_row_in_the_file_wins_a_tie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(point_in_time, "ROWS_PER_READ", 1)
    stamps = pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-01", "2024-01-02"], utc=True)
    pd.DataFrame({"pin_id": [1, 1, 1, 2], "event_timestamp": stamps, "clicks": [10, 11, 12, 13]}).to_parquet(
        tmp_path / "pins.parquet", index=False
    )
    latest = point_in_time.latest_in_window(
        pq.ParquetFile(tmp_path / "pins.parquet"),
        "pin_id",
        "event_timestamp",
        ["clicks"],
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 1, tzinfo=UTC),
    )
    assert latest.select(["pin_id", "clicks"]).to_pylist() == [{"pin_id": 1, "clicks": 11}, {"pin_id": 2, "clicks": 13}]
    assert latest.schema.field("clicks").type == pa.int64()
