"""A user's own folder: good rows load, bad rows are quarantined with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.sources import SourceError, files, load_folder, load_world
from core.world import SCHEMA, TABLES, World

USERS = [
    ("1", "US", "en", "25-34", "2026-01-01T00:00:00Z"),
    ("2", "DE", "de", "18-24", "2026-01-02"),
    ("x", "FR", "fr", "35-44", "2026-01-03"),  # non-integer user_id
    ("", "GB", "en", "55+", "2026-01-03"),  # missing user_id
    ("3", "JP", "ja", "45-54", "yesterday"),  # unparseable signup_at
    ("1", "US", "en", "25-34", "2026-01-05"),  # duplicate user_id
]
PINS = [
    ("10", "1", "Pasta", "easy pasta", "recipes", "111", "false", "", "2025-01-01"),
    ("11", "1", "Paris", "paris trip", "travel", "111", "true", "5", "2025-01-01"),
    ("12", "2", "Ink", "ink sketch", "art", "222", "maybe", "", "2025-01-01"),  # invalid is_ad
    (
        "13",
        "2.5",
        "Bob",
        "bob cut",
        "hair",
        "333",
        "false",
        "",
        "2025-01-01",
    ),  # non-integer creator_id
    ("11", "3", "Again", "dup", "travel", "444", "false", "", "2025-01-01"),  # duplicate pin_id
]
BOARDS = [
    ("100", "1", "Food"),
    ("101", "2", "Trips"),
    ("102", "99", "Ghost"),  # unknown user_id
    ("103", "3", "Late"),  # unknown user_id: user 3 was quarantined
]
BOARD_PINS = [
    ("100", "10", "2026-01-02"),
    ("101", "11", "2026-01-03"),
    ("102", "10", "2026-01-02"),  # unknown board_id: board 102 was quarantined
    ("100", "99", "2026-01-02"),  # unknown pin_id
    ("100", "10", "2026-01-04"),  # duplicate board_id, pin_id
]
EVENTS = [
    ("1", "1", "10", "impression", "homefeed", "", "0", "2026-10-01T10:00:00Z"),
    ("2", "1", "10", "click", "homefeed", "", "0", "2026-10-01T10:00:03Z"),
    ("3", "2", "", "search", "search", "paris", "", "2026-10-01T11:00:00Z"),
    ("4", "2", "11", "impression", "search", "paris", "0", "2026-10-01T11:00:02Z"),
    ("5", "1", "10", "like", "homefeed", "", "0", "2026-10-01T10:00:04Z"),  # unknown action
    ("6", "1", "10", "click", "sidebar", "", "0", "2026-10-01T10:00:05Z"),  # unknown surface
    ("7", "1", "10", "click", "homefeed", "", "0", "soon"),  # unparseable ts
    ("8", "42", "10", "click", "homefeed", "", "0", "2026-10-01T10:00:06Z"),  # unknown user_id
    ("9", "1", "77", "click", "homefeed", "", "0", "2026-10-01T10:00:07Z"),  # unknown pin_id
    ("10", "1", "", "click", "homefeed", "", "0", "2026-10-01T10:00:08Z"),  # missing pin_id
    ("1", "1", "10", "save", "homefeed", "", "0", "2026-10-01T10:00:09Z"),  # duplicate event_id
    (
        "11",
        "1",
        "10",
        "click",
        "homefeed",
        "",
        "1.5",
        "2026-10-01T10:00:10Z",
    ),  # non-integer position
]
TABLE_ROWS = {
    "users": USERS,
    "pins": PINS,
    "boards": BOARDS,
    "board_pins": BOARD_PINS,
    "events": EVENTS,
}
EXPECTED_QUARANTINE = {
    ("users", 2, "non-integer user_id"),
    ("users", 3, "missing user_id"),
    ("users", 4, "unparseable signup_at"),
    ("users", 5, "duplicate user_id"),
    ("pins", 2, "invalid is_ad"),
    ("pins", 3, "non-integer creator_id"),
    ("pins", 4, "duplicate pin_id"),
    ("boards", 2, "unknown user_id"),
    ("boards", 3, "unknown user_id"),
    ("board_pins", 2, "unknown board_id"),
    ("board_pins", 3, "unknown pin_id"),
    ("board_pins", 4, "duplicate board_id, pin_id"),
    ("events", 4, "unknown action"),
    ("events", 5, "unknown surface"),
    ("events", 6, "unparseable ts"),
    ("events", 7, "unknown user_id"),
    ("events", 8, "unknown pin_id"),
    ("events", 9, "missing pin_id"),
    ("events", 10, "duplicate event_id"),
    ("events", 11, "non-integer position"),
}


def _write(folder: Path, table: str, frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(folder / f"{table}.csv", index=False)
    else:
        frame.to_parquet(folder / f"{table}.parquet", index=False)


def _messy_folder(folder: Path, fmt: str) -> Path:
    """The hand-made tables above, every value as text (empty text = missing)."""
    folder.mkdir()
    for table, rows in TABLE_ROWS.items():
        frame = pd.DataFrame(rows, columns=list(SCHEMA[table])).replace("", None)
        _write(folder, table, frame, fmt)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bad_rows_are_quarantined_with_their_reason(tmp_path: Path, fmt: str) -> None:
    folder = _messy_folder(tmp_path / "mine", fmt)
    quarantine = tmp_path / "out" / "quarantine.parquet"
    world, report = load_folder(folder, quarantine)

    assert world.users["user_id"].tolist() == [1, 2]
    assert world.pins["pin_id"].tolist() == [10, 11]
    assert world.pins["is_ad"].tolist() == [False, True]
    assert world.pins["merchant_id"].tolist() == [pd.NA, 5]
    assert world.boards["board_id"].tolist() == [100, 101]
    assert world.board_pins[["board_id", "pin_id"]].values.tolist() == [[100, 10], [101, 11]]
    assert world.events["event_id"].tolist() == [1, 2, 3, 4]
    assert world.events["pin_id"].isna().tolist() == [False, False, True, False]
    assert world.users["signup_at"].iloc[0] == pd.Timestamp("2026-01-01", tz="UTC")
    for table in TABLES:
        frame = world.table(table)
        assert {c: str(d) for c, d in frame.dtypes.items()} == SCHEMA[table], table

    rejected = pd.read_parquet(quarantine)
    assert list(rejected.columns) == ["table", "row_number", "reason", "row"]
    assert (
        set(zip(rejected["table"], rejected["row_number"], rejected["reason"], strict=True))
        == EXPECTED_QUARANTINE
    )
    assert report.total == len(EXPECTED_QUARANTINE) == len(rejected)
    assert report.counts[("events", "unknown pin_id")] == 1
    assert report.counts[("boards", "unknown user_id")] == 2
    first = rejected[(rejected["table"] == "users") & (rejected["row_number"] == 2)]["row"].iloc[0]
    assert json.loads(first)["user_id"] == "x"
    assert "| events | unknown action | 1 |" in report.as_markdown()


def test_clean_world_round_trips_through_parquet_and_csv(tiny: World, tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        folder = tmp_path / fmt
        folder.mkdir()
        for table in TABLES:
            _write(folder, table, tiny.table(table), fmt)
        world, report = load_world(str(folder))
        assert report.total == 0
        assert pd.read_parquet(folder / "_quarantine.parquet").empty
        for table in TABLES:
            pd.testing.assert_frame_equal(world.table(table), tiny.table(table))


def test_board_tables_are_optional(tmp_path: Path) -> None:
    folder = _messy_folder(tmp_path / "mine", "csv")
    (folder / "boards.csv").unlink()
    (folder / "board_pins.csv").unlink()
    world, _ = load_folder(folder, tmp_path / "q.parquet")
    assert world.boards.empty and world.board_pins.empty
    assert {c: str(d) for c, d in world.boards.dtypes.items()} == SCHEMA["boards"]


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    folder = _messy_folder(tmp_path / "mine", "parquet")
    (folder / "pins.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match="pins.parquet"):
        load_folder(folder, tmp_path / "q.parquet")


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    folder = _messy_folder(tmp_path / "mine", "csv")
    pd.read_csv(folder / "users.csv").drop(columns="country").to_csv(
        folder / "users.csv", index=False
    )
    with pytest.raises(SourceError, match=r"users\.csv.*country"):
        load_folder(folder, tmp_path / "q.parquet")


def test_missing_required_table(tmp_path: Path) -> None:
    folder = _messy_folder(tmp_path / "mine", "csv")
    (folder / "events.csv").unlink()
    with pytest.raises(SourceError, match="events"):
        load_folder(folder, tmp_path / "q.parquet")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        load_folder(tmp_path / "nowhere", tmp_path / "q.parquet")


CLEAN_ROWS: dict[str, list[tuple[str | None, ...]]] = {
    "users": [("1", "US", "en", "25-34", "2026-01-01"), ("2", "DE", "de", "18-24", "2026-01-02")],
    "pins": [
        ("10", "1", "Pasta", "easy pasta", "recipes", "111", "false", None, "2025-01-01"),
        ("11", "1", "Paris", "paris trip", "travel", "111", "true", "5", "2025-01-01"),
        ("12", "2", "", None, "art", "222", "false", None, "2025-01-02"),  # no caption: allowed
    ],
    "events": [
        ("1", "1", "10", "impression", "homefeed", None, "0", "2026-10-01T10:00:00Z"),
        ("2", "2", None, "search", "search", "paris", None, "2026-10-01T11:00:00Z"),
    ],
}
OK_TS = "2026-10-02T09:00:00Z"
# (table, row, reason): each row breaks one rule the database or the partitions would trip on.
BAD_ROWS = [
    ("users", ("3", "", "fr", "35-44", "2026-01-03"), "missing country"),
    ("users", ("4", "FR", "   ", "35-44", "2026-01-03"), "missing language"),
    ("users", ("-5", "FR", "fr", "35-44", "2026-01-03"), "user_id below 0"),
    ("users", ("6", "FR", "fr", "35-44", "2100-01-01"), "signup_at in the future"),
    ("pins", ("13", "1", "\\N", "d", "art", "222", "false", None, "2025-01-01"), "literal \\N in title"),
    ("pins", ("14", "1", "t", "d", "", "222", "false", None, "2025-01-01"), "missing category"),
    ("pins", ("15", "1", "t", "d", "art", "222", "false", "-1", "2025-01-01"), "merchant_id below 0"),
    ("events", ("3", "1", "10", "click", "homefeed", None, "0", "2025-12-31T23:59:59Z"), "ts before 2026-01-01"),
    ("events", ("4", "1", "10", "click", "homefeed", None, "0", "2100-01-01T00:00:00Z"), "ts in the future"),
    ("events", ("5", "2", None, "search", "search", "\\N", None, OK_TS), "literal \\N in query"),
    ("events", ("6", "1", "10", "click", "homefeed", None, "-1", OK_TS), "position below 0"),
    ("events", ("7", "1", "10", "click", "homefeed", None, "2147483648", OK_TS), "position above 2147483647"),
    ("events", ("8", "1", "10", "click", "", None, "0", OK_TS), "missing surface"),
    ("events", ("-9", "1", "10", "click", "homefeed", None, "0", OK_TS), "event_id below 0"),
]


def _folder_of(folder: Path, rows: dict[str, list[tuple[str | None, ...]]], fmt: str) -> Path:
    """One file per table of text cells: None is a missing cell, '' empty text (in parquet)."""
    folder.mkdir()
    for table, table_rows in rows.items():
        _write(folder, table, pd.DataFrame(table_rows, columns=list(SCHEMA[table])), fmt)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_values_the_database_or_partitions_would_refuse_are_quarantined(
    tmp_path: Path, fmt: str
) -> None:
    rows = {table: list(table_rows) for table, table_rows in CLEAN_ROWS.items()}
    expected = set()
    for table, row, reason in BAD_ROWS:
        expected.add((table, len(rows[table]), reason))
        rows[table].append(row)
    folder = _folder_of(tmp_path / "mine", rows, fmt)

    world, report = load_folder(folder, tmp_path / "q.parquet")

    rejected = pd.read_parquet(tmp_path / "q.parquet")
    assert set(zip(rejected["table"], rejected["row_number"], rejected["reason"])) == expected
    assert report.total == len(BAD_ROWS)
    assert world.users["user_id"].tolist() == [1, 2]
    assert world.pins["pin_id"].tolist() == [10, 11, 12]
    assert world.pins.loc[2, ["title", "description"]].tolist() == ["", ""]
    assert world.events["event_id"].tolist() == [1, 2]
    for table in TABLES:
        frame = world.table(table)
        assert {c: str(d) for c, d in frame.dtypes.items()} == SCHEMA[table], table


def test_a_file_over_the_size_cap_is_refused_naming_file_size_and_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder_of(tmp_path / "mine", CLEAN_ROWS, "csv")
    largest = max(folder.iterdir(), key=lambda path: path.stat().st_size)
    size = largest.stat().st_size
    monkeypatch.setattr(files, "MAX_FILE_BYTES", size - 1)  # only the largest file is over it
    with pytest.raises(SourceError, match=rf"{largest.name}: {size:,} bytes .* {size - 1:,}-byte cap"):
        load_folder(folder, tmp_path / "q.parquet")
