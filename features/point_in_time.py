"""Point-in-time reads of one feature view's offline file: the ranker's training rows, and the
latest row per key that materialization copies online.

Feast's file offline store (its dask store) reads every row of a view's parquet file and joins each
entity row with all of its key's feature rows before it filters them by time: on the large world's
15.4M pin-engagement rows, asked 20,000 entity rows at a time, the ranker's 300,000 rows took 149 s
and grew the process by 9.4 GiB. This reads only the rows of the keys asked for, in the time span
the rows can see (pyarrow filters the file as it reads it), and takes the latest visible one per row
with ``pandas.merge_asof``: Feast's rule, as its ``get_historical_features`` applies it (the tests
compare the two), in the memory of the rows it needs. The feature views, their files, keys and
TTLs are read from the store's registry.

Materialization has the same cost in Feast's file store: it sorts the whole file by time before it
keeps the latest row per key (on large, 8.3 GiB for pin_engagement's 750,000 latest rows).
``latest_in_window`` reads the file ``ROWS_PER_READ`` rows at a time and keeps one row per key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureView

EVENT_TIMESTAMP = "event_timestamp"
# Keys whose rows are read and joined at a time: on large, 20,000 of the 191,874 pins that the
# ranker's rows ask for hold about 420,000 of the 15.4M pin-engagement rows (65 MB in arrow); the
# file is scanned once per block, 0.1 s for three columns.
KEYS_PER_READ = 20_000
# Rows read at a time for the latest row per key: 1M rows of a 20-feature view are 160 MB in arrow.
ROWS_PER_READ = 1_000_000
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


def latest_in_window(
    file: pq.ParquetFile, key: str, timestamp: str, features: list[str], start: datetime, end: datetime
) -> pa.Table:
    """Per ``key``, the row of ``file`` with the latest ``timestamp`` in [``start``, ``end``), the later
    one in the file where two share it: what Feast's ``materialize`` copies online. Columns ``key``,
    ``timestamp``, ``*features``; one row per key, in key order. Read ``ROWS_PER_READ`` rows at a time."""
    columns = [key, timestamp, *features]
    latest = file.schema_arrow.empty_table().select(columns)
    for batch in file.iter_batches(batch_size=ROWS_PER_READ, columns=columns):
        stamps = batch.column(timestamp)
        in_window = pc.and_(
            pc.greater_equal(stamps, pa.scalar(start, stamps.type)), pc.less(stamps, pa.scalar(end, stamps.type))
        )
        kept = pa.Table.from_batches([batch.filter(in_window)])
        latest = _last_per_key(pa.concat_tables([latest, kept]), key, timestamp)
    return latest


def _last_per_key(table: pa.Table, key: str, timestamp: str) -> pa.Table:
    """The last row of each key of ``table`` ordered by (``key``, ``timestamp``, position)."""
    keys = table.column(key).to_numpy()
    order = np.lexsort((table.column(timestamp).cast(pa.int64()).to_numpy(), keys))  # stable: ties keep position
    sorted_keys = keys[order]
    is_last = np.append(sorted_keys[1:] != sorted_keys[:-1], True) if len(order) else np.zeros(0, dtype=bool)
    return table.take(order[is_last])
