"""Reading tables and their indexes into the operating system's cache through the server, as
pg_prewarm's ``read`` mode does, with core functions only (the embedded Postgres lacks pg_prewarm).

The server reads each file of the relations (``pg_read_binary_file``, which needs superuser or the
``pg_read_server_files`` role) and discards the bytes: sequential reads, where the first searches
of a cold index would each wait on hundreds of random ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

CHUNK_BYTES = 16 << 20  # read per statement: the server holds one chunk in memory at a time

_FILES = text(
    """
    SELECT pg_relation_filepath(relation), pg_relation_size(relation)
    FROM (
        SELECT indexrelid AS relation, 0 AS read_order FROM pg_index WHERE indrelid = ANY(CAST(:tables AS regclass[]))
        UNION ALL
        SELECT CAST(name AS regclass), 1 FROM unnest(CAST(:tables AS text[])) AS name
    ) AS relations
    ORDER BY read_order, relation
    """
)
_READ = text("SELECT length(pg_read_binary_file(:path, :offset, :length))")
_SEGMENT = text("SELECT pg_size_bytes(current_setting('segment_size'))")


def segment_bytes(conn: Connection) -> int:
    """The size of the files the server splits a relation into (its build's RELSEG_SIZE: 1 GiB by default)."""
    return conn.execute(_SEGMENT).scalar_one()


def relation_files(conn: Connection, tables: Sequence[str]) -> list[tuple[str, int]]:
    """(path under the data directory, bytes) of every file of ``tables`` and of their indexes,
    the indexes first."""
    files: list[tuple[str, int]] = []
    per_file = segment_bytes(conn)
    for path, size in conn.execute(_FILES, {"tables": list(tables)}):
        for segment, start in enumerate(range(0, size, per_file)):
            files.append((path if segment == 0 else f"{path}.{segment}", min(per_file, size - start)))
    return files


def read_into_os_cache(conn: Connection, tables: Sequence[str]) -> int:
    """Have the server read every file of ``tables`` and their indexes, ``CHUNK_BYTES`` a statement;
    the bytes read. Raises the driver's error where the role may not read server files."""
    read = 0
    for path, size in relation_files(conn, tables):
        for offset in range(0, size, CHUNK_BYTES):
            params = {"path": path, "offset": offset, "length": min(CHUNK_BYTES, size - offset)}
            read += conn.execute(_READ, params).scalar_one()
    return read
