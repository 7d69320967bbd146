"""Feast's SQLite online store, writing each batch of rows in one statement.

Feast's SQLite store writes a materialized batch one feature value at a time, a statement each: on
demo, 1.28M statements took 7.7 of materialization's 17 s (cProfile). This store is Feast's in all
but ``online_write_batch``, which sends a batch's values through one ``executemany`` of the same
upsert, into the same tables. Feast names the store by its class path (``online_store.type``); a
store with vector search enabled takes Feast's own path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig, _table_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc
from pydantic import StrictStr

STORE_TYPE = "features.online_store.BatchedSqliteOnlineStore"

Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]


class BatchedSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """The SQLite store's configuration, under this store's type name."""

    type: StrictStr = STORE_TYPE  # type: ignore[assignment]


class BatchedSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store whose batch writes are one statement a batch."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: Sequence[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Upsert every feature value of ``data``'s rows into ``table``'s SQLite table."""
        if config.online_store.vector_enabled:
            return super().online_write_batch(config, table, list(data), progress)
        version = config.entity_key_serialization_version
        values = [
            (
                serialize_entity_key(entity_key, entity_key_serialization_version=version),
                name,
                value.SerializeToString(),
                to_naive_utc(timestamp),
                None if created is None else to_naive_utc(created),
            )
            for entity_key, features, timestamp, created in data
            for name, value in features.items()
        ]
        connection = self._get_conn(config)
        with connection:
            connection.executemany(
                f"INSERT INTO {_table_id(config.project, table)} "
                "(entity_key, feature_name, value, event_ts, created_ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
                "value = excluded.value, event_ts = excluded.event_ts, created_ts = excluded.created_ts",
                values,
            )
        if progress:
            progress(len(data))
