"""A world exported as a folder loads back through the folder source as the same world, and the
worked example of docs/data.md loads as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from core.sources import load_folder
from core.sources.export import export_world
from core.world import TABLES, World
from tests.conftest import corkboard

DATA_DOC = Path(__file__).resolve().parents[3] / "docs" / "data.md"


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_an_exported_world_loads_back_unchanged(tiny: World, tmp_path: Path, file_format: str) -> None:
    folder = tmp_path / "world"
    written = export_world(tiny, folder, file_format)
    assert [path.name for path in written] == [f"{table}.{file_format}" for table in TABLES]
    loaded, report = load_folder(folder, tmp_path / "quarantine.parquet")
    assert report.total == 0, report.as_markdown()
    for table in TABLES:
        pd.testing.assert_frame_equal(loaded.table(table), tiny.table(table), obj=table)


def test_csv_cells_are_iso_times_and_truth_words(tiny: World, tmp_path: Path) -> None:
    export_world(tiny, tmp_path, "csv")
    pins = pd.read_csv(tmp_path / "pins.csv", dtype=str, keep_default_na=False)
    assert set(pins["is_ad"]) <= {"true", "false"}
    assert pins["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00").all()


def test_export_refuses_a_folder_holding_table_files(tiny: World, tmp_path: Path) -> None:
    export_world(tiny, tmp_path, "parquet")
    with pytest.raises(FileExistsError, match="pins.parquet"):
        export_world(tiny, tmp_path, "csv")
    assert not (tmp_path / "pins.csv").exists()


def test_export_refuses_an_unknown_format(tiny: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format 'json'"):
        export_world(tiny, tmp_path, "json")


def test_the_export_command_writes_a_folder_the_folder_source_reads(
    tiny: World, tmp_path: Path, session_data_dir: Path
) -> None:
    result = corkboard("export-world", "--world", "tiny", "--out", str(tmp_path / "world"), "--format", "csv")
    assert result.stdout.split() == [str(tmp_path / "world" / f"{table}.csv") for table in TABLES]
    loaded, report = load_folder(tmp_path / "world", tmp_path / "quarantine.parquet")
    assert report.total == 0
    for table in TABLES:
        pd.testing.assert_frame_equal(loaded.table(table), tiny.table(table), obj=table)
    again = corkboard("export-world", "--world", "tiny", "--out", str(tmp_path / "world"), check=False)
    assert again.returncode == 1 and "already holds" in again.stderr


def test_the_worked_example_of_the_docs_loads_without_quarantine(tmp_path: Path) -> None:
    blocks = re.findall(r"`(\w+)\.csv`\n\n```csv\n(.*?)```", DATA_DOC.read_text(), re.S)
    assert sorted(name for name, _ in blocks) == sorted(TABLES)
    for name, body in blocks:
        (tmp_path / f"{name}.csv").write_text(body)
    world, report = load_folder(tmp_path, tmp_path / "quarantine.parquet")
    assert report.total == 0, report.as_markdown()
    rows = {table: len(world.table(table)) for table in TABLES}
    assert rows == {"pins": 3, "boards": 1, "board_pins": 1, "users": 2, "events": 6}
