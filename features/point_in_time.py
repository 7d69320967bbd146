"""Point-in-time reads of one feature view's offline file, for the ranker's training rows.

Feast's file offline store (its dask store) reads every row of a view's parquet file and joins each
entity row with all of its key's feature rows before it filters them by time: on the large world's
15.4M pin-engagement rows, asked 20,000 entity rows at a time, the ranker's 300,000 rows took 149 s
and grew the process by 9.4 GiB. This reads only the rows of the keys asked for, in the time span
the rows can see (pyarrow filters the file as it reads it), and takes the latest visible one per row
with ``pandas.merge_asof``: Feast's rule, as its ``get_historical_features`` applies it (the tests
compare the two), in the memory of the rows it needs. The feature views, their files, keys and
TTLs are read from the store's registry.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
from feast import FeatureView

EVENT_TIMESTAMP = "event_timestamp"
# Keys whose rows are read and joined at a time: on large, 20,000 of the 191,874 pins that the
# ranker's rows ask for hold about 420,000 of the 15.4M pin-engagement rows (65 MB in arrow); the
# file is scanned once per block, 0.1 s for three columns.
KEYS_PER_READ = 20_000
_FEATURE_TIMESTAMP = "__feature_timestamp"


def utc_ns(timestamps: pd.Series) -> pd.Series:
    """``timestamps`` as UTC nanoseconds: Feast and parquet may hand back another resolution, and
    equal keys must have equal dtypes to join."""
    return pd.to_datetime(timestamps, utc=True).astype("datetime64[ns, UTC]")


def view_as_of(view: FeatureView, features: list[str], keys: pd.DataFrame) -> pd.DataFrame:
    """Per distinct (join key, ``event_timestamp``) row of ``keys`` (UTC nanoseconds), ``features``
    of ``view`` (named ``<view>__<feature>``) from its latest offline row stamped at or before the
    row's time and, when the view has a TTL, no earlier than that time minus the TTL; missing values
    where no row is visible. One row per distinct key and time, in no particular order; the file is
    read ``KEYS_PER_READ`` keys at a time."""
    (key,) = view.join_keys
    asked = keys[[key, EVENT_TIMESTAMP]].drop_duplicates()
    distinct = asked[key].unique()
    blocks = [distinct[start : start + KEYS_PER_READ] for start in range(0, len(distinct), KEYS_PER_READ)]
    return pd.concat(
        [_as_of(view, features, asked[asked[key].isin(block)]) for block in blocks or [distinct]], ignore_index=True
    )


def _as_of(view: FeatureView, features: list[str], asked: pd.DataFrame) -> pd.DataFrame:
    """``view_as_of`` for the distinct rows ``asked``, read in one go."""
    (key,) = view.join_keys
    source = view.batch_source
    ttl = view.ttl if view.ttl and view.ttl > timedelta(0) else None
    rows = _visible_rows(source.path, source.timestamp_field, key, features, asked, ttl)
    names = {feature: f"{view.name}__{feature}" for feature in features}
    rows = rows.rename(columns={source.timestamp_field: _FEATURE_TIMESTAMP, **names})
    rows[_FEATURE_TIMESTAMP] = utc_ns(rows[_FEATURE_TIMESTAMP])
    rows[key] = rows[key].astype(asked[key].dtype)
    joined = pd.merge_asof(
        asked.sort_values(EVENT_TIMESTAMP, kind="stable"),
        rows.sort_values(_FEATURE_TIMESTAMP, kind="stable"),
        left_on=EVENT_TIMESTAMP,
        right_on=_FEATURE_TIMESTAMP,
        by=key,
        direction="backward",
        allow_exact_matches=True,
        tolerance=ttl,
    )
    for name in names.values():  # a boolean feature with a missing value: None, as Feast answers it
        if joined[name].dtype == object:
            joined[name] = joined[name].where(joined[name].notna(), None)
    return joined.drop(columns=_FEATURE_TIMESTAMP)


def _visible_rows(
    path: str, timestamp: str, key: str, features: list[str], asked: pd.DataFrame, ttl: timedelta | None
) -> pd.DataFrame:
    """The offline rows of ``asked``'s keys that some asked time can see."""
    columns = [key, timestamp, *features]
    if asked.empty:
        return pq.read_schema(path).empty_table().select(columns).to_pandas()
    filters = [(key, "in", asked[key].unique().tolist()), (timestamp, "<=", asked[EVENT_TIMESTAMP].max())]
    if ttl is not None:
        filters.append((timestamp, ">=", asked[EVENT_TIMESTAMP].min() - ttl))
    return pq.read_table(path, columns=columns, filters=filters).to_pandas()
