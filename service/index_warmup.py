"""Reading the served HNSW indexes into Postgres's buffers before the first page needs them.

Straight after a start (or a fresh activation) the index pages sit on disk: on demo the first home
feeds' searches then took 390, 240 and 140 ms against a 150 ms budget, and the sources were
dropped from those pages. A few wide searches from spread-out directions walk most of each graph
(docs/performance.md, "Twelfth round"). No extension is needed: pg_prewarm is missing from the
embedded Postgres.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from models.embedding_width import EMBEDDING_DIM
from service.database_guard import describe
from sql.embeddings import nearest_pin_ids

log = logging.getLogger("corkboard.service")
WARM_QUERIES = 8
WARM_DEPTH = 400  # ef_search and k of each warming search


def warm_indexes(engine: Engine, versions: Iterable[int]) -> float:
    """Run ``WARM_QUERIES`` searches of depth ``WARM_DEPTH`` on each version's partition, in one
    transaction of ``engine`` (which must carry no short statement timeout); the seconds taken.
    A failure is logged and costs only the warmth: serving does not depend on it."""
    queries = np.random.default_rng(0).standard_normal((WARM_QUERIES, EMBEDDING_DIM)).astype(np.float32)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            for version in sorted(set(versions)):
                nearest_pin_ids(conn, version=version, queries=queries, k=WARM_DEPTH, ef_search=WARM_DEPTH)
    except (SQLAlchemyError, psycopg.Error) as error:  # psycopg's: the searches run on the driver connection
        log.warning("could not warm the HNSW indexes (the first pages may drop sources): %s", describe(error))
    return time.perf_counter() - started
