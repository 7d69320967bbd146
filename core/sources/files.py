"""A user's own data: one parquet or CSV file per table, bad rows quarantined, not fatal."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.sources.columns import parse_column
from core.sources.errors import SourceError
from core.sources.quarantine import QuarantineReport, rejected_rows, write_quarantine
from core.world import SCHEMA, TABLES, World, conform

OPTIONAL_TABLES = ("boards", "board_pins")
PRIMARY_KEYS: dict[str, list[str]] = {
    "pins": ["pin_id"],
    "boards": ["board_id"],
    "board_pins": ["board_id", "pin_id"],
    "users": ["user_id"],
    "events": ["event_id"],
}
# (table, column) -> the parent table whose key it names; checked against accepted parent rows.
FOREIGN_KEYS: dict[tuple[str, str], str] = {
    ("boards", "user_id"): "users",
    ("board_pins", "board_id"): "boards",
    ("board_pins", "pin_id"): "pins",
    ("events", "user_id"): "users",
    ("events", "pin_id"): "pins",
}
# Parents before children, so foreign keys are checked against accepted parents.
LOAD_ORDER = ("users", "pins", "boards", "board_pins", "events")
# Each table is read whole into memory (CSV several times its size): refuse rather than exhaust it.
MAX_FILE_BYTES = 1 << 30


def _candidates(folder: Path, table: str) -> tuple[Path, Path]:
    return folder / f"{table}.parquet", folder / f"{table}.csv"


def table_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that ``load_folder`` reads, in table order."""
    return [path for table in TABLES for path in _candidates(folder, table) if path.is_file()]


def _read(folder: Path, table: str) -> tuple[Path, pd.DataFrame] | None:
    """The file and raw rows of ``<table>.parquet`` or ``<table>.csv``; None for an absent
    optional table."""
    found = [path for path in _candidates(folder, table) if path.is_file()]
    if len(found) > 1:
        raise SourceError(f"{folder}: both {table}.parquet and {table}.csv exist; keep one")
    if not found:
        if table in OPTIONAL_TABLES:
            return None
        raise SourceError(f"{folder}: missing {table}.parquet or {table}.csv")
    path = found[0]
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SourceError(
            f"{path}: {size:,} bytes is over the {MAX_FILE_BYTES:,}-byte cap on one source file "
            "(each table is read whole into memory); trim the table"
        )
    try:
        if path.suffix == ".parquet":
            raw = pd.read_parquet(path).reset_index(drop=True)
        else:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:  # pyarrow and pandas raise these for unreadable files
        raise SourceError(f"{path}: cannot be read: {exc}") from exc
    missing = [column for column in SCHEMA[table] if column not in raw.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}")
    return path, raw


def _flag(reason: pd.Series, problem: pd.Series, label: str) -> pd.Series:
    """Record ``label`` on rows with a problem and no earlier reason."""
    return reason.mask(reason.isna() & problem.to_numpy(dtype=bool, na_value=False), label)


def _typed(
    table: str, raw: pd.DataFrame, path: Path, now: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Schema columns parsed from ``raw`` and the first problem of each row (NA when none)."""
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    columns = {}
    for column in SCHEMA[table]:
        values, problems = parse_column(table, column, raw[column], path, now)
        for label, rows in problems:
            reason = _flag(reason, rows, label)
        columns[column] = values
    typed = pd.DataFrame(columns, index=raw.index)
    if table == "events":
        reason = _flag(
            reason, typed["pin_id"].isna() & (typed["action"] != "search"), "missing pin_id"
        )
    return typed, reason


def _check_keys(
    table: str, typed: pd.DataFrame, reason: pd.Series, accepted: dict[str, pd.DataFrame]
) -> pd.Series:
    """Flag references to rows the parent table does not have, then repeated primary keys."""
    for (child, column), parent in FOREIGN_KEYS.items():
        if child == table:
            known = typed[column].isin(accepted[parent][PRIMARY_KEYS[parent][0]])
            reason = _flag(reason, typed[column].notna() & ~known, f"unknown {column}")
    key = PRIMARY_KEYS[table]
    clean = typed[reason.isna().to_numpy()]
    repeated = clean.duplicated(subset=key, keep="first").reindex(typed.index, fill_value=False)
    return _flag(reason, repeated, f"duplicate {', '.join(key)}")


def load_folder(folder: Path, quarantine_path: Path) -> tuple[World, QuarantineReport]:
    """A World from ``folder`` (pins, users, events required; boards, board_pins optional).

    Rows that break the schema (core/sources/columns.py) or reference rows the parent table
    lacks or quarantined are left out and written, with the first reason found, to
    ``quarantine_path``; the first of rows sharing a key is kept. Raises SourceError when the
    folder, a required file or a required column is missing, a file is over MAX_FILE_BYTES, or
    a file cannot be read at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder")
    now = pd.Timestamp.now(tz="UTC")
    accepted: dict[str, pd.DataFrame] = {}
    rejects = []
    for table in LOAD_ORDER:
        found = _read(folder, table)
        if found is None:
            accepted[table] = pd.DataFrame(
                {c: pd.Series(dtype=d) for c, d in SCHEMA[table].items()}
            )
            continue
        path, raw = found
        typed, reason = _typed(table, raw, path, now)
        reason = _check_keys(table, typed, reason, accepted)
        accepted[table] = typed[reason.isna().to_numpy()]
        rejects.append(rejected_rows(table, raw, reason))
    report = write_quarantine(rejects, Path(quarantine_path))
    return World(**{table: conform(table, accepted[table]) for table in TABLES}), report
