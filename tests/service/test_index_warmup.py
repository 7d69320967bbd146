"""Warming the served HNSW indexes at load, beside the loading of the models: every partition a
surface searches is read into the cache and searched; a role that may not read server files warms
by the searches alone, and a failure costs only the warmth."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import create_engine, text

from core.settings import get_settings
from service import index_warmup
from service.state_loading import open_serving_state
from sql.migrate import migrated_engine


@pytest.fixture
def warming_searches(monkeypatch) -> tuple[list[int], set[str]]:
    """The versions each warming search ran on, and the names of the threads that ran them."""
    warmed: list[int] = []
    threads: set[str] = set()

    def recording(conn, *, version: int, **search):
        warmed.append(version)
        threads.add(threading.current_thread().name)
        return nearest_pin_ids(conn, version=version, **search)

    nearest_pin_ids = index_warmup.nearest_pin_ids
    monkeypatch.setattr(index_warmup, "nearest_pin_ids", recording)
    return warmed, threads


def test_loading_warms_every_partition_the_surfaces_search(materialized_tiny, warming_searches, caplog) -> None:
    warmed, threads = warming_searches
    with caplog.at_level(logging.INFO, logger="corkboard.service"):
        loaded = open_serving_state(get_settings())
    searched = {loaded.embedding_version, loaded.text.version, loaded.two_tower_version, loaded.pinsage.version}
    assert len(searched) == 4 and sorted(warmed) == sorted(searched)
    assert "of the served partitions' files into the cache" in caplog.text
    assert f"warmed the HNSW indexes of versions {sorted(searched)}" in caplog.text
    assert "could not warm" not in caplog.text
    # Beside the loading, not after it: on a thread of its own, done when the state is returned.
    assert len(threads) == 1 and threads.pop().startswith("warm-indexes")


def test_a_failed_warm_is_logged_and_not_raised(materialized_tiny, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="corkboard.service"):
        seconds = index_warmup.warm_indexes(migrated_engine(get_settings()), [987654])  # no such partition
    assert seconds >= 0
    assert "could not warm the HNSW indexes" in caplog.text and "pin_embeddings_v987654" in caplog.text


def test_a_role_that_may_not_read_server_files_warms_by_searches_alone(
    materialized_tiny, warming_searches, caplog
) -> None:
    admin = migrated_engine(get_settings())
    with admin.begin() as conn:
        versions = list(conn.execute(text("SELECT DISTINCT version FROM pin_embeddings ORDER BY 1")).scalars())
        conn.execute(text("CREATE ROLE corkboard_searcher"))
        conn.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO corkboard_searcher"))
    searcher = create_engine(admin.url, connect_args={"options": "-c role=corkboard_searcher"})
    try:
        with caplog.at_level(logging.INFO, logger="corkboard.service"):
            index_warmup.warm_indexes(searcher, versions)
    finally:
        searcher.dispose()
        with admin.begin() as conn:
            conn.execute(text("DROP OWNED BY corkboard_searcher"))
            conn.execute(text("DROP ROLE corkboard_searcher"))
    assert "may not read server files" in caplog.text and "files into the cache" not in caplog.text
    assert "could not warm" not in caplog.text
    assert versions and warming_searches[0] == versions
