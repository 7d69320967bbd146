"""Reading the served HNSW indexes into memory before the first page needs them.

Straight after a start (or a fresh activation) the index pages sit on disk: on demo the first home
feeds' searches then took 390, 240 and 140 ms against a 150 ms budget, and the sources were
dropped from those pages. A few wide searches from spread-out directions walk most of a small
graph (docs/performance.md, "Twelfth round"), but not of a million pins': there the first pages
still waited on random reads. So the server first reads each searched partition's files, its
indexes' and its rows', into the operating system's cache (``sql.prewarm``: pg_prewarm is missing
from the embedded Postgres), where the role may read server files; the searches then bring the
graphs' upper layers into Postgres's own buffers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
import psycopg
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from models.embedding_width import EMBEDDING_DIM
from service.database_guard import describe
from sql.embeddings import nearest_pin_ids, partition_name
from sql.prewarm import read_into_os_cache

log = logging.getLogger("corkboard.service")
WARM_QUERIES = 8
WARM_DEPTH = 400  # ef_search and k of each warming search


def warm_indexes(engine: Engine, versions: Iterable[int]) -> float:
    """Read each version's partition into the operating system's cache, then run ``WARM_QUERIES``
    searches of depth ``WARM_DEPTH`` on it, through ``engine`` (which must carry no short statement
    timeout); the seconds taken. A failure is logged and costs only the warmth: serving does not
    depend on it."""
    queries = np.random.default_rng(0).standard_normal((WARM_QUERIES, EMBEDDING_DIM)).astype(np.float32)
    searched = sorted(set(versions))
    started = time.perf_counter()
    try:
        _read_partitions(engine, searched)
        with engine.begin() as conn:
            for version in searched:
                nearest_pin_ids(conn, version=version, queries=queries, k=WARM_DEPTH, ef_search=WARM_DEPTH)
    except (SQLAlchemyError, psycopg.Error) as error:  # psycopg's: the searches run on the driver connection
        log.warning("could not warm the HNSW indexes (the first pages may drop sources): %s", describe(error))
    return time.perf_counter() - started


def _read_partitions(engine: Engine, versions: list[int]) -> None:
    """``sql.prewarm.read_into_os_cache`` of the versions' partitions, or, where the role may not
    read server files, a note that the searches alone warm them."""
    try:
        with engine.begin() as conn:
            read = read_into_os_cache(conn, [partition_name(version) for version in versions])
    except SQLAlchemyError as error:
        if not isinstance(getattr(error, "orig", None), InsufficientPrivilege):
            raise
        log.info("the database role may not read server files (pg_read_server_files): warming by searches only")
        return
    log.info("read %.0f MB of the served partitions' files into the cache", read / 1e6)
