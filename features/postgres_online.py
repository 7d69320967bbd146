"""Reads of Feast's Postgres online store over connections corkboard opens and closes itself.

Feast's Postgres online store keeps one connection per process, opened without a connect timeout,
TCP keepalives or a user timeout, and never replaced: once the database restarts every read over it
fails until the process restarts, and once the server goes silent a read waits for the kernel to
give up (about 15 minutes). Reads here run Feast's own query and decoding
(``OnlineStore.get_online_features``) over a connection the caller manages instead: the service's
requests over one of the guarded request pool, a load over a fresh one with the engine's timeouts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from feast import FeatureStore, RepoConfig
from feast.infra.online_stores.postgres_online_store.postgres import PostgreSQLOnlineStore
from feast.online_response import OnlineResponse
from psycopg.conninfo import make_conninfo

from core.database import TCP_LIVENESS


class _OverConnection(PostgreSQLOnlineStore):
    """Feast's Postgres online store reading over the caller's connection, which it never opens,
    commits or closes."""

    def __init__(self, connection: psycopg.Connection) -> None:
        self._connection = connection

    @contextlib.contextmanager
    def _get_conn(self, config: RepoConfig, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        yield self._connection


def read_over(
    connection: psycopg.Connection,
    store: FeatureStore,
    *,
    features: list[str],
    entity_rows: Mapping[str, Sequence[Any]],
) -> OnlineResponse:
    """``store.get_online_features(features, entity_rows, full_feature_names=True)`` over ``connection``."""
    return _OverConnection(connection).get_online_features(
        config=store.config,
        features=features,
        entity_rows=entity_rows,
        registry=store.registry,
        project=store.project,
        full_feature_names=True,
    )


@contextlib.contextmanager
def fresh_connection(store: FeatureStore, *, connect_timeout_s: int) -> Iterator[psycopg.Connection]:
    """A new autocommit connection to ``store``'s Postgres online store, with the TCP keepalives and
    user timeout of ``core.database``'s engines, closed on exit."""
    config = store.config.online_store
    conninfo = make_conninfo(
        host=config.host,
        port=config.port,
        dbname=config.database,
        user=config.user,
        password=config.password,
        options=f"-c search_path={config.db_schema}",
        connect_timeout=connect_timeout_s,
        **TCP_LIVENESS,
    )
    with psycopg.connect(conninfo, autocommit=True) as connection:
        yield connection
