"""One column of a user's file parsed to its schema dtype, with the rows that break the schema.

The rules, per column of core/world.py's SCHEMA:

- a value is required unless the column is in ``NULLABLE`` (the SQL schema's nullable columns);
  blank text counts as missing, except in free text (titles, descriptions, board names), where
  the SQL allows empty strings and a missing cell reads as empty text, in CSV and parquet alike;
- integers must be whole numbers within int64; ids are not negative, positions fit an SQL integer;
- text is text, never the literal ``\\N`` (Postgres COPY would load it as NULL), and actions and
  surfaces take the schema's values;
- times are ISO-8601 text or timestamps (naive ones are UTC), not later than the load; event
  times are not before the first daily partition, which would never load them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.sources.errors import SourceError
from core.world import ACTIONS, FIRST_EVENT_DAY, NULLABLE, SCHEMA, SURFACES

Column = tuple[str, str]  # (table, column)
# (reason, rows it applies to), in the order a row reports them: only its first reason is kept.
Problems = list[tuple[str, pd.Series]]

TIMESTAMP = "datetime64[ns, UTC]"
ALLOWED_VALUES: dict[Column, tuple[str, ...]] = {
    ("events", "action"): ACTIONS,
    ("events", "surface"): SURFACES,
}
FREE_TEXT: frozenset[Column] = frozenset(
    {("pins", "title"), ("pins", "description"), ("boards", "name")}
)
# Inclusive bounds besides "ids are not negative"; position is an SQL integer.
BOUNDS: dict[Column, tuple[int, int]] = {("events", "position"): (0, 2**31 - 1)}
# Only the event log is cut into daily partitions; pins and users may predate it.
PARTITIONED_TIMES: frozenset[Column] = frozenset({("events", "ts")})
COPY_NULL = "\\N"
_INTEGER_TEXT = r"[+-]?\d+(\.0*)?"  # '3.0' is what CSV writers make of integers in float columns
_INT64_LIMIT = 9.2e18
TRUTH_WORDS = {
    **dict.fromkeys(("true", "t", "yes", "1", "1.0"), True),
    **dict.fromkeys(("false", "f", "no", "0", "0.0"), False),
}


def parse_column(
    table: str, column: str, raw: pd.Series, path: Path, now: pd.Timestamp
) -> tuple[pd.Series, Problems]:
    """``raw`` as ``table.column``'s schema dtype (NA where it cannot be read), and its problems.

    ``path`` names the file in a SourceError for a column that cannot hold the type at all;
    ``now`` is the latest acceptable time.
    """
    key = (table, column)
    dtype = SCHEMA[table][column]
    if dtype == "string":
        raw = raw.fillna("") if key in FREE_TEXT else raw.mask(_blank(raw))
    missing = raw.isna() if key not in NULLABLE else _no_rows(raw.index)
    if dtype in ("int64", "Int64"):
        values, malformed = _integers(raw)
        problems = [(f"non-integer {column}", malformed), *_out_of_bounds(key, values)]
    elif dtype == "bool":
        values, malformed = _booleans(raw)
        problems = [(f"invalid {column}", malformed)]
    elif dtype == TIMESTAMP:
        values, malformed = _timestamps(raw, path)
        problems = [(f"unparseable {column}", malformed), *_outside_window(key, values, now)]
    else:
        values, problems = _text(key, raw)
    return values, [(f"missing {column}", missing), *problems]


def _no_rows(index: pd.Index) -> pd.Series:
    """A problem mask that flags no row."""
    return pd.Series(False, index=index)


def _blank(raw: pd.Series) -> pd.Series:
    """Rows holding text of only spaces, or none."""
    return raw.astype("object").map(lambda value: isinstance(value, str) and not value.strip())


def _integers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(Int64 values, rows holding something other than an integer)."""
    if pd.api.types.is_integer_dtype(raw.dtype):
        return raw.astype("Int64"), _no_rows(raw.index)
    text = raw.astype("string").str.strip()
    looks_integral = text.str.fullmatch(_INTEGER_TEXT).fillna(False).astype(bool)
    # Numbers beyond int64 would overflow the cast below.
    in_range = pd.to_numeric(text.where(looks_integral), errors="coerce").abs() < _INT64_LIMIT
    integral = looks_integral & in_range
    digits = text.where(integral).str.replace(r"\.0*$", "", regex=True)
    return digits.astype("Int64"), raw.notna() & ~integral


def _out_of_bounds(key: Column, values: pd.Series) -> Problems:
    """Rows below or above the column's bounds; ids have a floor of zero."""
    column = key[1]
    if key in BOUNDS:
        low, high = BOUNDS[key]
        return [(f"{column} below {low}", values < low), (f"{column} above {high}", values > high)]
    if column.endswith("_id"):
        return [(f"{column} below 0", values < 0)]
    return []


def _booleans(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(boolean values, rows holding something other than a truth value)."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), _no_rows(raw.index)
    values = raw.astype("string").str.strip().str.lower().map(TRUTH_WORDS).astype("boolean")
    return values, raw.notna() & values.isna()


def _timestamps(raw: pd.Series, path: Path) -> tuple[pd.Series, pd.Series]:
    """(UTC timestamps, rows holding text that is not an ISO-8601 time); naive times are UTC."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize("UTC") if raw.dt.tz is None else raw.dt.tz_convert("UTC")
        return values.astype(TIMESTAMP), _no_rows(raw.index)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        # Epoch numbers have no unit we could trust.
        raise SourceError(
            f"{path}: column {raw.name} holds numbers; expected timestamps or ISO-8601 text"
        )
    values = pd.to_datetime(raw.astype("string"), utc=True, errors="coerce", format="ISO8601")
    return values.astype(TIMESTAMP), raw.notna() & values.isna()


def _outside_window(key: Column, values: pd.Series, now: pd.Timestamp) -> Problems:
    """Rows later than ``now``, and event times before the first partition."""
    column = key[1]
    problems = [(f"{column} in the future", values > now)]
    if key in PARTITIONED_TIMES:
        first = pd.Timestamp(FIRST_EVENT_DAY, tz="UTC")
        problems.insert(0, (f"{column} before {FIRST_EVENT_DAY}", values < first))
    return problems


def _text(key: Column, raw: pd.Series) -> tuple[pd.Series, Problems]:
    """(string values, problems): non-text values, the COPY null marker, values not allowed."""
    column = key[1]
    cells = raw.astype("object")
    not_text = cells.notna() & ~cells.map(lambda value: isinstance(value, str))
    values = cells.where(~not_text).astype("string")
    problems = [(f"non-text {column}", not_text), (f"literal \\N in {column}", values == COPY_NULL)]
    allowed = ALLOWED_VALUES.get(key)
    if allowed is not None:
        problems.append((f"unknown {column}", values.notna() & ~values.isin(allowed)))
    return values, problems
