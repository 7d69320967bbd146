"""A columnar, memory-mappable snapshot of what the online store serves, written with each
materialization and versioned with the models, so that the service loads every pin's and user's
features without reading them one entity at a time through Feast.

The snapshot holds, per entity key, the row ``features.store.online_features`` returns for every
entity of the offline tables: the latest row of each feature view stamped within the window
``materialize_online`` copied (``point_in_time.latest_in_window``, the read behind the offline
store's ``materialize``), typed as the view declares it, missing where the view has no row for the
entity. One Arrow IPC file per key, sorted by id.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast.types import from_feast_to_pyarrow_type

from core.atomic_files import atomic_folder, atomic_path
from features.feast_objects import VIEW_SPECS, offline_path
from features.point_in_time import latest_in_window
from features.store import ENTITY_VIEWS, online_columns

SNAPSHOT_KIND = "feature_snapshot"


def write_serving_snapshot(feature_dir: Path, start: datetime, end: datetime, folder: Path) -> dict[str, int]:
    """Write the snapshot of the offline tables under ``feature_dir`` as materialized over
    [``start``, ``end``) into ``folder``, which must not exist yet; it appears whole or not at all.
    Returns the rows written per entity key."""
    rows = {}
    with atomic_folder(folder) as partial:
        for key in ENTITY_VIEWS:
            table = snapshot_table(feature_dir, key, start, end)
            with atomic_path(_file(partial, key)) as unfinished:
                with pa.ipc.new_file(str(unfinished), table.schema) as writer:
                    writer.write_table(table)
            rows[key] = table.num_rows
    return rows


def snapshot_table(feature_dir: Path, key: str, start: datetime, end: datetime) -> pa.Table:
    """Every entity of ``key`` ("pin_id" or "user_id") with the latest row of each of its views
    stamped in [``start``, ``end``), in ``online_columns(key)`` order, sorted by id."""
    views = [_latest_rows(feature_dir, view, key, start, end) for view in ENTITY_VIEWS[key]]
    frame = functools.reduce(lambda left, right: left.merge(right, on=key, how="outer"), views)
    columns = online_columns(key)
    schema = pa.schema([pa.field(key, pa.int64(), nullable=False), *(_field(column) for column in columns[1:])])
    frame = frame.sort_values(key, ignore_index=True)[columns]
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).combine_chunks()


def _field(column: str) -> pa.Field:
    """The Arrow field of the ``<view>__<feature>`` column: the type the view declares."""
    view, feature = column.split("__")
    return pa.field(column, from_feast_to_pyarrow_type(VIEW_SPECS[view][1][feature]))


def _latest_rows(feature_dir: Path, view: str, key: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The latest row per entity of ``view`` stamped in [``start``, ``end``), features renamed to
    ``<view>__<feature>``."""
    features = list(VIEW_SPECS[view][1])
    file = pq.ParquetFile(offline_path(feature_dir, view))
    latest = latest_in_window(file, key, "event_timestamp", features, start, end).to_pandas()
    return latest[[key, *features]].rename(columns={feature: f"{view}__{feature}" for feature in features})


@dataclass(frozen=True)
class ServingSnapshot:
    """A written snapshot, memory-mapped: its files are paged in as rows are read."""

    tables: dict[str, pa.Table]  # by entity key, sorted by id
    ids: dict[str, np.ndarray]

    @classmethod
    def load(cls, folder: Path) -> ServingSnapshot:
        """Memory-map the snapshot in ``folder``; ValueError when a file lacks the columns
        ``online_features`` returns, OSError when one is missing or unreadable."""
        tables = {}
        for key in ENTITY_VIEWS:
            table = pa.ipc.open_file(pa.memory_map(str(_file(Path(folder), key)))).read_all()
            if table.column_names != online_columns(key):
                raise ValueError(f"feature snapshot {folder}: {key} columns {table.column_names}")
            tables[key] = table
        return cls(tables, {key: table[key].to_numpy() for key, table in tables.items()})

    def without(self, lacking: dict[str, np.ndarray]) -> ServingSnapshot:
        """This snapshot less the entities ``lacking`` names (entity key -> ids), as a snapshot
        taken before they arrived would be."""
        kept = {key: ~np.isin(ids, lacking.get(key, [])) for key, ids in self.ids.items()}
        return ServingSnapshot(
            {key: table.filter(kept[key]) for key, table in self.tables.items()},
            {key: ids[kept[key]] for key, ids in self.ids.items()},
        )

    def rows(self, key: str, ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of the ``ids`` it holds, as ``online_features`` returns them and in their order,
        and a mask over ``ids`` of those (the others must be read from the online store)."""
        held_ids = self.ids[key]
        ids = np.asarray(ids, dtype=np.int64)
        positions = np.minimum(np.searchsorted(held_ids, ids), max(len(held_ids) - 1, 0))
        held = held_ids[positions] == ids if len(held_ids) else np.zeros(len(ids), dtype=bool)
        return self.tables[key].take(pa.array(positions[held])).to_pandas(), held


def _file(folder: Path, key: str) -> Path:
    return folder / f"{key}.arrow"
