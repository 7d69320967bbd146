"""A user's folder lands through the same assets: bad rows are quarantined and counted, the good
ones load, and a materialization reads each file once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.database import stop_embedded_postgres
from core.settings import get_settings
from core.sources.synthetic import generate_world
from core.world import TABLES, World
from corkboard.materialize import dagster_instance
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.definitions import RESOURCES
from orchestration.resources import WorldSource
from tests.conftest import use_data_dir

UNKNOWN_USER = 10**9


@dataclass(frozen=True)
class Landed:
    """What the materialization of a folder left: the good world, metadata, file reads, reasons."""

    good: World
    catalogue: dict
    events: dict
    reads: Counter[str]
    reasons: Counter[tuple[str, str]]


def _with_rows(frame: pd.DataFrame, changes: list[dict]) -> pd.DataFrame:
    """``frame`` followed by copies of its first row, each with ``changes`` applied."""
    extra = pd.DataFrame([frame.iloc[0].to_dict() | change for change in changes])
    return pd.concat([frame, extra.astype(frame.dtypes.to_dict())], ignore_index=True)


def _messy_folder(folder: Path, good: World) -> Counter[tuple[str, str]]:
    """Write ``good`` plus one bad row per reason to ``folder``; returns the expected reasons."""
    top_pin, top_event = int(good.pins["pin_id"].max()), int(good.events["event_id"].max())
    tables = {
        "users": _with_rows(good.users, [{"user_id": -5}]),
        "pins": _with_rows(good.pins, [{"pin_id": top_pin + 1, "category": ""},
                                       {"pin_id": top_pin + 2, "title": "\\N"}]),
        "events": _with_rows(good.events, [
            {"event_id": top_event + 1, "ts": pd.Timestamp("2025-12-31 23:00", tz="UTC")},
            {"event_id": top_event + 2, "ts": pd.Timestamp("2100-01-01", tz="UTC")},
            {"event_id": top_event + 3, "action": "like"},
            {"event_id": top_event + 4, "user_id": UNKNOWN_USER},
        ]),
    }
    for name in TABLES:
        tables.get(name, good.table(name)).to_parquet(folder / f"{name}.parquet", index=False)
    return Counter({
        ("users", "user_id below 0"): 1,
        ("pins", "missing category"): 1,
        ("pins", "literal \\N in title"): 1,
        ("events", "ts before 2026-01-01"): 1,
        ("events", "ts in the future"): 1,
        ("events", "unknown action"): 1,
        ("events", "unknown user_id"): 1,
    })


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, session_data_dir: Path) -> Iterator[Landed]:
    """A messy folder materialized (catalogue, then every event day) on a data dir of its own,
    loaded once more the way ``corkboard materialize`` does between the two, pandas' reads counted."""
    folder = tmp_path_factory.mktemp("user_data")
    good = generate_world("tiny", seed=3)
    reasons = _messy_folder(folder, good)
    data_dir = tmp_path_factory.mktemp("folder_data")
    reads: Counter[str] = Counter()
    read_parquet = pd.read_parquet

    def counting_read_parquet(path: Path, *args: object, **kwargs: object) -> pd.DataFrame:
        if Path(path).parent == folder:
            reads[Path(path).name] += 1
        return read_parquet(path, *args, **kwargs)

    use_data_dir(data_dir)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CORKBOARD_SOURCE_ROOT", str(folder))  # the user's folder lies outside the data dir
            get_settings.cache_clear()
            patch.setattr(pd, "read_parquet", counting_read_parquet)
            resources = {**RESOURCES, "source": WorldSource(world=str(folder))}
            loaded = materialize([catalogue], resources=resources, instance=dagster_instance())
            days = WorldSource(world=str(folder)).load()[0].events["ts"].dt.date
            tags = {ASSET_PARTITION_RANGE_START_TAG: days.min().isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: days.max().isoformat()}
            events = materialize([raw_events], resources=resources, instance=dagster_instance(), tags=tags)
        yield Landed(
            good,
            loaded.asset_materializations_for_node("catalogue")[0].metadata,
            events.asset_materializations_for_node("raw_events")[0].metadata,
            reads,
            reasons,
        )
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(data_dir / "postgres")


def test_bad_rows_are_quarantined_into_run_metadata(landed: Landed) -> None:
    assert landed.catalogue["quarantined_rows"].value == landed.reasons.total()
    quarantine_path = landed.catalogue["quarantine"].value.split("`")[-2]
    quarantine = pd.read_parquet(quarantine_path)
    assert Counter(zip(quarantine["table"], quarantine["reason"])) == landed.reasons


def test_the_good_rows_load(landed: Landed) -> None:
    assert landed.catalogue["pins_rows"].value == len(landed.good.pins)
    assert landed.catalogue["users_rows"].value == len(landed.good.users)
    assert landed.events["rows"].value == len(landed.good.events)


def test_each_file_is_read_once(landed: Landed) -> None:
    assert landed.reads == {f"{name}.parquet": 1 for name in TABLES}
