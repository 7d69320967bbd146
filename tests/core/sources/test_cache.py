"""cached_world: a source is read once, read again when its files change, and keeps its report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from core.sources.cache import FOLDERS, cached_world
from core.world import TABLES, World


@pytest.fixture
def folder(tiny: World, tmp_path: Path) -> Path:
    """The tiny world as CSV, with one event of an unknown action."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for table in TABLES:
        tiny.table(table).to_csv(folder / f"{table}.csv", index=False)
    events = tiny.events.astype({"action": "object"})
    events.loc[0, "action"] = "like"
    events.to_csv(folder / "events.csv", index=False)
    return folder


@pytest.fixture
def reads(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each file of ``folder`` is opened by pandas."""
    counts: Counter[str] = Counter()
    read_csv = pd.read_csv

    def counting_read_csv(path: Path, *args: object, **kwargs: object) -> pd.DataFrame:
        if Path(path).parent == folder:
            counts[Path(path).name] += 1
        return read_csv(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting_read_csv)
    return counts


def test_a_folder_is_read_once_and_its_report_is_kept(
    folder: Path, reads: Counter[str], tmp_path: Path
) -> None:
    source_dir = tmp_path / "source"
    first_world, first_report = cached_world(str(folder), source_dir)
    again_world, again_report = cached_world(str(folder), source_dir)

    assert reads == {f"{table}.csv": 1 for table in TABLES}
    assert again_report == first_report and first_report.counts == {("events", "unknown action"): 1}
    assert first_report.path is not None and first_report.path.is_relative_to(source_dir / FOLDERS)
    for table in TABLES:
        pd.testing.assert_frame_equal(again_world.table(table), first_world.table(table))


def test_an_edited_file_is_read_again_and_the_old_copy_dropped(
    folder: Path, reads: Counter[str], tmp_path: Path
) -> None:
    source_dir = tmp_path / "source"
    first, _ = cached_world(str(folder), source_dir)
    users = pd.read_csv(folder / "users.csv")
    users.iloc[1:].to_csv(folder / "users.csv", index=False)
    reads.clear()

    edited, _ = cached_world(str(folder), source_dir)

    assert reads == {f"{table}.csv": 1 for table in TABLES}
    assert len(edited.users) == len(first.users) - 1
    assert len(list((source_dir / FOLDERS).glob("*/*"))) == 1
