"""A hand-made event log and a Settings object on a temporary data dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from core.settings import Settings, get_settings
from core.world import conform

EventRow = tuple[int, int | None, str, str]


def events_table(rows: list[EventRow]) -> pd.DataFrame:
    """An events table from (user_id, pin_id, action, UTC time) tuples."""
    frame = pd.DataFrame(rows, columns=["user_id", "pin_id", "action", "ts"])
    frame["event_id"] = range(len(frame))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    frame["surface"] = "homefeed"
    frame["query"] = None
    frame["position"] = None
    return conform("events", frame)


@pytest.fixture
def make_events() -> Callable[[list[EventRow]], pd.DataFrame]:
    """Builds events tables from (user_id, pin_id, action, UTC time) tuples."""
    return events_table


@pytest.fixture
def event_log() -> pd.DataFrame:
    """Pins 1 and 2 over 2024-01-01 .. 2024-01-08; 5 impressions and 1 of each other action.

    Global rates are 1/5 for every action, so with strength 20 the prior is Beta(4, 16).
    """
    return events_table(
        [
            (1, 1, "impression", "2024-01-01 09:00"),
            (1, 1, "click", "2024-01-01 09:01"),
            (2, 1, "impression", "2024-01-01 10:00"),
            (1, None, "search", "2024-01-02 08:00"),
            (3, 2, "impression", "2024-01-03 12:00"),
            (3, 2, "hide", "2024-01-03 12:00"),
            (3, 2, "long_click", "2024-01-03 12:01"),
            (2, 1, "impression", "2024-01-07 23:59:59"),
            # The first instant of Jan 8 belongs to Jan 8, not to the snapshot stamped with it.
            (1, 1, "impression", "2024-01-08 00:00:00"),
            (1, 1, "save", "2024-01-08 00:00:00"),
        ]
    )


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on an empty data dir, also exported as CORKBOARD_DATA_DIR for get_settings()."""
    monkeypatch.setenv("CORKBOARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield Settings(data_dir=tmp_path)
    get_settings.cache_clear()
