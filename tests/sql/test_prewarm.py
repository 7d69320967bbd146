"""Reading a table and its indexes into the operating system's cache through the server: every byte
of every file, the indexes first, whatever the chunk; a relation past a segment is named by its
segment files; a role that may not read server files is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from sql import prewarm
from sql.migrate import migrated_engine

TABLE = "prewarm_probe"


@pytest.fixture
def probe_table(session_data_dir) -> Iterator[Engine]:
    """A table of 20,000 rows with two indexes (its primary key and one on its text)."""
    engine = migrated_engine()
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, body text)"))
        conn.execute(text(f"CREATE INDEX {TABLE}_body ON {TABLE} (body)"))
        conn.execute(text(f"INSERT INTO {TABLE} SELECT g, md5(g::text) FROM generate_series(1, 20000) g"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {TABLE}"))


def _sizes(engine: Engine) -> dict[str, tuple[str, int]]:
    """Each of the probe's relations: its file's path and its bytes."""
    query = "SELECT relname, pg_relation_filepath(oid), pg_relation_size(oid) FROM pg_class WHERE relname LIKE :like"
    with engine.connect() as conn:
        return {name: (path, size) for name, path, size in conn.execute(text(query), {"like": f"{TABLE}%"})}


@pytest.mark.parametrize("chunk_bytes", [prewarm.CHUNK_BYTES, 10_000])
def test_every_file_of_a_table_and_its_indexes_is_read_indexes_first(
    probe_table: Engine, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(prewarm, "CHUNK_BYTES", chunk_bytes)
    sizes = _sizes(probe_table)
    with probe_table.connect() as conn:
        files = prewarm.relation_files(conn, [TABLE])
        read = prewarm.read_into_os_cache(conn, [TABLE])

    assert sorted(sizes) == [TABLE, f"{TABLE}_body", f"{TABLE}_pkey"]
    assert sorted(files) == sorted(sizes.values())
    assert files[-1] == sizes[TABLE]  # the rows after the indexes
    assert read == sum(size for _, size in sizes.values()) > 1_000_000


def test_a_relation_past_a_segment_is_named_by_its_segment_files(
    probe_table: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with probe_table.connect() as conn:
        assert prewarm.segment_bytes(conn) == 1 << 30  # the embedded server's build: Postgres's default
    monkeypatch.setattr(prewarm, "segment_bytes", lambda conn: 65_536)
    path, size = _sizes(probe_table)[TABLE]
    with probe_table.connect() as conn:
        files = prewarm.relation_files(conn, [TABLE])
    segments = [(name, bytes_) for name, bytes_ in files if name == path or name.startswith(f"{path}.")]

    expected = -(-size // 65_536)
    assert [name for name, _ in segments] == [path] + [f"{path}.{number}" for number in range(1, expected)]
    assert sum(bytes_ for _, bytes_ in segments) == size and all(bytes_ <= 65_536 for _, bytes_ in segments)


def test_a_role_that_may_not_read_server_files_is_refused(probe_table: Engine) -> None:
    with probe_table.connect() as conn:
        conn.execute(text("CREATE ROLE prewarm_reader"))  # rolled back below, with the grant
        conn.execute(text(f"GRANT SELECT ON {TABLE} TO prewarm_reader"))
        conn.execute(text("SET LOCAL ROLE prewarm_reader"))
        with pytest.raises(ProgrammingError) as refused:
            prewarm.read_into_os_cache(conn, [TABLE])
        conn.rollback()
    assert isinstance(refused.value.orig, InsufficientPrivilege)
