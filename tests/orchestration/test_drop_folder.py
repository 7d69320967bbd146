"""The drop-folder sensor: a user's new files become runs of the catalogue and of the days of
raw_events they hold, each file once; a changed file is picked up again, a broken one reported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, RunRequest, build_sensor_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import get_settings
from orchestration.drop_folder import DropCursor, day_ranges, drop_folder_sensor, drop_requests

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
SETTLED = NOW - timedelta(minutes=5)
PINS = "pin_id,creator_id,title,description,category,image_signature,is_ad,merchant_id,created_at\n1,7,a,b,pets,3,false,,2026-10-01\n"
USERS = "user_id,country,language,age_bucket,signup_at\n5,US,en,25-34,2026-10-01\n"
EVENT_HEADER = "event_id,user_id,pin_id,action,surface,query,position,ts\n"


def write(path: Path, text: str, modified: datetime = SETTLED) -> None:
    path.write_text(text)
    os.utime(path, (modified.timestamp(), modified.timestamp()))


def events(*stamps: str) -> str:
    return EVENT_HEADER + "".join(f"{n},5,1,click,homefeed,,0,{ts}\n" for n, ts in enumerate(stamps))


def requested_days(requests: list[RunRequest]) -> set[str]:
    """Every day the raw_events requests cover, each request's range expanded."""
    days = set()
    for request in requests:
        if ASSET_PARTITION_RANGE_START_TAG in request.tags:
            first, last = request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
            days |= {day.date().isoformat() for day in pd.date_range(first, last)}
    return days


def requested_assets(requests: list[RunRequest]) -> list[str]:
    return [key.to_user_string() for request in requests for key in request.asset_selection]


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    write(folder / "pins.csv", PINS)
    write(folder / "users.csv", USERS)
    write(folder / "events.csv", events("2026-11-01T10:00:00Z", "2026-11-02T09:00:00Z", "2026-11-05T23:59:00Z"))
    return folder


def test_new_files_request_the_catalogue_and_their_days_once(drop):
    first = drop_requests(drop, str(drop), DropCursor(), NOW)
    assert sorted(requested_assets(first.run_requests)) == ["catalogue", "raw_events", "raw_events"]
    assert requested_days(first.run_requests) == {"2026-11-01", "2026-11-02", "2026-11-05"}
    assert all(r.run_config == {"resources": {"source": {"config": {"world": str(drop)}}}} for r in first.run_requests)
    again = drop_requests(drop, str(drop), first.cursor, NOW + timedelta(minutes=1))
    assert again.run_requests == [] and again.cursor == first.cursor


def test_a_changed_events_file_requests_its_days_and_not_the_catalogue(drop):
    first = drop_requests(drop, str(drop), DropCursor(), NOW)
    write(drop / "events.csv", events("2026-11-07T08:00:00Z", "2026-11-08T08:00:00Z"), NOW)
    later = NOW + timedelta(minutes=5)
    changed = drop_requests(drop, str(drop), first.cursor, later)
    assert requested_assets(changed.run_requests) == ["raw_events"]
    assert requested_days(changed.run_requests) == {"2026-11-07", "2026-11-08"}
    assert {r.run_key for r in changed.run_requests}.isdisjoint({r.run_key for r in first.run_requests})


def test_a_removed_board_file_reloads_the_catalogue(drop):
    write(drop / "boards.csv", "board_id,user_id,name\n9,5,x\n")
    first = drop_requests(drop, str(drop), DropCursor(), NOW)
    (drop / "boards.csv").unlink()
    assert requested_assets(drop_requests(drop, str(drop), first.cursor, NOW).run_requests) == ["catalogue"]


def test_todays_events_wait_for_their_partition(drop):
    write(drop / "events.csv", events("2026-11-09T10:00:00Z", "2026-11-10T08:00:00Z"))
    first = drop_requests(drop, str(drop), DropCursor(), NOW)
    assert requested_days(first.run_requests) == {"2026-11-09"}
    assert first.cursor.waiting_days == ("2026-11-10",)
    tomorrow = drop_requests(drop, str(drop), first.cursor, NOW + timedelta(days=1))
    assert requested_days(tomorrow.run_requests) == {"2026-11-10"} and tomorrow.cursor.waiting_days == ()


def test_an_unreadable_events_file_is_reported_once(drop):
    write(drop / "events.csv", "event_id,user_id\n1,5\n")  # no ts column
    first = drop_requests(drop, str(drop), DropCursor(), NOW)
    assert requested_assets(first.run_requests) == ["catalogue"]
    assert len(first.problems) == 1 and "events.csv" in first.problems[0]
    assert drop_requests(drop, str(drop), first.cursor, NOW).problems == []


def test_consecutive_days_make_one_run_each():
    assert day_ranges(["2026-11-03", "2026-11-01", "2026-11-02", "2026-11-06"]) == [
        ("2026-11-01", "2026-11-03"),
        ("2026-11-06", "2026-11-06"),
    ]


@pytest.fixture
def drop_setting(drop: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CORKBOARD_SOURCE_ROOT", str(drop.parent))
    monkeypatch.setenv("CORKBOARD_DROP_DIR", str(drop))
    get_settings.cache_clear()
    yield drop
    get_settings.cache_clear()


def test_the_sensor_picks_up_a_file_once_through_its_cursor(drop_setting):
    instance = DagsterInstance.ephemeral()
    first = drop_folder_sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert "catalogue" in requested_assets(first.run_requests)
    assert requested_days(first.run_requests) == {"2026-11-01", "2026-11-02", "2026-11-05"}
    second = drop_folder_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
    assert second.run_requests == [] and second.cursor == first.cursor


def test_the_sensor_waits_for_a_file_being_written(drop_setting):
    write(drop_setting / "events.csv", events("2026-11-01T10:00:00Z"), datetime.now(UTC))
    tick = drop_folder_sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert tick.run_requests == [] and "events.csv" in tick.skip_message


def test_the_sensor_refuses_a_drop_folder_outside_the_source_root(drop_setting, tmp_path, monkeypatch):
    root = tmp_path / "elsewhere"
    root.mkdir()
    monkeypatch.setenv("CORKBOARD_SOURCE_ROOT", str(root))
    get_settings.cache_clear()
    tick = drop_folder_sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert tick.run_requests == [] and "outside" in tick.skip_message


def test_the_run_requests_fit_the_job_the_sensor_targets(drop):
    from dagster import validate_run_config

    from orchestration.definitions import defs

    repository = defs.get_repository_def()
    job = repository.get_job(repository.get_sensor_def("drop_folder").job_name)
    for request in drop_requests(drop, str(drop), DropCursor(), NOW).run_requests:
        assert validate_run_config(job, request.run_config)["resources"]["source"]["config"]["world"] == str(drop)
        assert {key.to_user_string() for key in request.asset_selection} <= {"catalogue", "raw_events"}
