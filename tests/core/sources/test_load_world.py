"""Dispatch from a source name or folder to its loader."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.sources import SOURCE_NAMES, SourceError, load_world
from core.world import TABLES, World


def test_named_synthetic_world(tiny: World) -> None:
    world, report = load_world("tiny")
    assert report.total == 0 and report.as_markdown() == "No rows quarantined."
    for table in TABLES:
        pd.testing.assert_frame_equal(world.table(table), tiny.table(table))


def test_named_movielens() -> None:
    world, report = load_world("ml100k", end_date=datetime.date(2026, 6, 1))
    assert report.total == 0
    assert world.events["ts"].max().date() == datetime.date(2026, 5, 31)


def test_folder_with_explicit_quarantine_path(tiny: World, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    for table in ("pins", "users", "events"):
        tiny.table(table).to_parquet(folder / f"{table}.parquet", index=False)
    quarantine = tmp_path / "rejected.parquet"
    world, report = load_world(str(folder), quarantine_path=quarantine)
    assert quarantine.exists() and not (folder / "_quarantine.parquet").exists()
    assert len(world.events) == len(tiny.events) and report.total == 0


def test_unknown_name_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as raised:
        load_world(str(tmp_path / "no-such-world"))
    for name in SOURCE_NAMES:
        assert name in str(raised.value)
