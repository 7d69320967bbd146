"""A user's own data: one parquet or CSV file per table, bad rows quarantined, not fatal."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.sources.errors import SourceError
from core.sources.quarantine import QuarantineReport, rejected_rows, write_quarantine
from core.world import ACTIONS, SCHEMA, SURFACES, TABLES, World, conform

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
ALLOWED_VALUES = {("events", "action"): ACTIONS, ("events", "surface"): SURFACES}
# Parents before children, so foreign keys are checked against accepted parents.
LOAD_ORDER = ("users", "pins", "boards", "board_pins", "events")
_TIMESTAMP = "datetime64[ns, UTC]"
_INTEGER_TEXT = r"[+-]?\d+(\.0*)?"  # '3.0' is what CSV writers make of integers in float columns
_INT64_LIMIT = 9.2e18
TRUTH_WORDS = {
    **dict.fromkeys(("true", "t", "yes", "1", "1.0"), True),
    **dict.fromkeys(("false", "f", "no", "0", "0.0"), False),
}


def _read(folder: Path, table: str) -> tuple[Path, pd.DataFrame] | None:
    """The file and raw rows of ``<table>.parquet`` or ``<table>.csv``; None for an absent
    optional table."""
    found = [
        path for path in (folder / f"{table}.parquet", folder / f"{table}.csv") if path.is_file()
    ]
    if len(found) > 1:
        raise SourceError(f"{folder}: both {table}.parquet and {table}.csv exist; keep one")
    if not found:
        if table in OPTIONAL_TABLES:
            return None
        raise SourceError(f"{folder}: missing {table}.parquet or {table}.csv")
    path = found[0]
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


def _no_problem(index: pd.Index) -> pd.Series:
    """A problem mask that flags no row."""
    return pd.Series(False, index=index)


def _flag(reason: pd.Series, problem: pd.Series, label: str) -> pd.Series:
    """Record ``label`` on rows with a problem and no earlier reason."""
    return reason.mask(reason.isna() & problem.to_numpy(dtype=bool, na_value=False), label)


def _integers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(Int64 values, rows holding something other than an integer)."""
    if pd.api.types.is_integer_dtype(raw.dtype):
        return raw.astype("Int64"), _no_problem(raw.index)
    text = raw.astype("string").str.strip()
    looks_integral = text.str.fullmatch(_INTEGER_TEXT).fillna(False).astype(bool)
    # Numbers beyond int64 would overflow the cast below.
    in_range = pd.to_numeric(text.where(looks_integral), errors="coerce").abs() < _INT64_LIMIT
    integral = looks_integral & in_range
    digits = text.where(integral).str.replace(r"\.0*$", "", regex=True)
    return digits.astype("Int64"), raw.notna() & ~integral


def _booleans(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(boolean values, rows holding something other than a truth value)."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), _no_problem(raw.index)
    values = raw.astype("string").str.strip().str.lower().map(TRUTH_WORDS).astype("boolean")
    return values, raw.notna() & values.isna()


def _timestamps(raw: pd.Series, path: Path) -> tuple[pd.Series, pd.Series]:
    """(UTC timestamps, rows holding text that is not an ISO-8601 time); naive times are UTC."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        return values.astype(_TIMESTAMP), _no_problem(raw.index)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        # Epoch numbers have no unit we could trust.
        raise SourceError(
            f"{path}: column {raw.name} holds numbers; expected timestamps or ISO-8601 text"
        )
    values = pd.to_datetime(raw.astype("string"), utc=True, errors="coerce", format="ISO8601")
    return values.astype(_TIMESTAMP), raw.notna() & values.isna()


def _typed(table: str, raw: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Schema columns parsed from ``raw`` and the first problem of each row (NA when none)."""
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    columns = {}
    for column, dtype in SCHEMA[table].items():
        source = raw[column]
        if dtype in ("int64", "Int64"):
            values, malformed = _integers(source)
            required, label = dtype == "int64", f"non-integer {column}"
        elif dtype == "bool":
            values, malformed = _booleans(source)
            required, label = True, f"invalid {column}"
        elif dtype == _TIMESTAMP:
            values, malformed = _timestamps(source, path)
            required, label = True, f"unparseable {column}"
        else:
            values = source.astype("string")
            allowed = ALLOWED_VALUES.get((table, column))
            required, label = allowed is not None, f"unknown {column}"
            malformed = (
                values.notna() & ~values.isin(allowed) if allowed else _no_problem(raw.index)
            )
        if required:
            reason = _flag(reason, source.isna(), f"missing {column}")
        reason = _flag(reason, malformed, label)
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

    Rows that break the schema or reference unknown rows are left out and written, with the
    first reason found, to ``quarantine_path``; the first of rows sharing a key is kept.
    Raises SourceError when the folder, a required file or a required column is missing,
    or a file cannot be read at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder")
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
        typed, reason = _typed(table, raw, path)
        reason = _check_keys(table, typed, reason, accepted)
        accepted[table] = typed[reason.isna().to_numpy()]
        rejects.append(rejected_rows(table, raw, reason))
    report = write_quarantine(rejects, Path(quarantine_path))
    return World(**{table: conform(table, accepted[table]) for table in TABLES}), report
