"""Pin and user vectors in pgvector: one HNSW-indexed partition per version, nearest-pin queries."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pgvector.sqlalchemy import Vector
from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from models.embedding_width import EMBEDDING_DIM
from sql.bulk import copy_binary_out, copy_binary_rows
from sql.driver import fetch_all


# One (version, id, embedding) row of COPY's binary form, as sent and as read; numpy packs the fields without padding.
_VECTOR_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("version_bytes", ">i4"),
        ("version", ">i4"),
        ("id_bytes", ">i4"),
        ("id", ">i8"),
        ("vector_bytes", ">i4"),
        ("width", ">i2"),
        ("unused", ">i2"),
        ("values", ">f4", (EMBEDDING_DIM,)),
    ]
)


def _vector_rows(ids: np.ndarray, vectors: np.ndarray, version: int) -> np.ndarray:
    """(version, id, embedding) rows in COPY's binary form (``sql.bulk.copy_binary_rows``): an
    integer, a bigint and pgvector's ``vector`` (its width and a zero as int16, then float4 values),
    all big-endian: the float32 values go over exactly, and 1M rows take 2 s, not 37 s as text."""
    if vectors.shape != (len(ids), EMBEDDING_DIM):
        raise ValueError(f"expected {len(ids)} x {EMBEDDING_DIM} vectors, got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    rows = np.empty(len(ids), dtype=_VECTOR_ROW)
    rows["fields"], rows["version_bytes"], rows["id_bytes"] = 3, 4, 8
    rows["vector_bytes"], rows["width"], rows["unused"] = 4 + 4 * EMBEDDING_DIM, EMBEDDING_DIM, 0
    rows["version"], rows["id"], rows["values"] = version, ids, vectors
    return rows


def partition_name(version: int) -> str:
    """The table holding ``version``'s pin vectors and its HNSW index."""
    number = operator.index(version)  # an integer type, never text
    if number < 0:
        raise ValueError(f"a version is a non-negative integer, got {version!r}")
    return f"pin_embeddings_v{number}"


HNSW_BYTES_PER_ROW = 1536  # pgvector 0.8 needs ~1,000 B per 64-d row at m = 16 (64 MB held 67,087); with a margin


def index_build_memory_mb(rows: int) -> int:
    """maintenance_work_mem for building the HNSW graph of ``rows`` pins in memory: at least the
    server's usual 64 MB, at most 4 GB."""
    return int(min(max(rows * HNSW_BYTES_PER_ROW / 2**20, 64), 4096))


def load_pin_partition(conn: Connection, *, version: int, pin_ids: np.ndarray, vectors: np.ndarray) -> int:
    """Build partition ``version`` (rows, then its HNSW index) beside the serving one and attach it."""
    partition = pgsql.Identifier(partition_name(version))
    driver = conn.connection.driver_connection
    driver.execute(
        pgsql.SQL("CREATE TABLE {} (LIKE pin_embeddings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(partition)
    )
    # The CHECK lets ATTACH skip a full validation scan.
    driver.execute(
        pgsql.SQL("ALTER TABLE {} ADD CHECK (version = {})").format(partition, pgsql.Literal(version))
    )
    rows = copy_binary_rows(
        conn, partition_name(version), ("version", "pin_id", "embedding"), _vector_rows(pin_ids, vectors, version)
    )
    driver.execute(pgsql.SQL("ALTER TABLE {} ADD PRIMARY KEY (version, pin_id)").format(partition))
    # pgvector builds fast only while the whole graph fits in maintenance_work_mem; past that it
    # falls back to inserting on disk: 200k rows built in 60 s in memory, 165 s with the default 64 MB.
    driver.execute("SELECT set_config('maintenance_work_mem', %s, true)", (f"{index_build_memory_mb(rows)}MB",))
    driver.execute(
        pgsql.SQL(
            "CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        ).format(partition)
    )
    driver.execute(
        pgsql.SQL("ALTER TABLE pin_embeddings ATTACH PARTITION {} FOR VALUES IN ({})").format(
            partition, pgsql.Literal(version)
        )
    )
    return rows


def load_user_vectors(conn: Connection, *, version: int, user_ids: np.ndarray, vectors: np.ndarray) -> int:
    """Insert the user vectors of ``version``."""
    return copy_binary_rows(
        conn, "user_embeddings", ("version", "user_id", "embedding"), _vector_rows(user_ids, vectors, version)
    )


def _stored_vector(conn: Connection, statement: str, params: dict[str, int]) -> np.ndarray | None:
    row = conn.execute(text(statement).columns(embedding=Vector(EMBEDDING_DIM)), params).first()
    return None if row is None else np.asarray(row.embedding, dtype=np.float32)


def user_vector(conn: Connection, *, version: int, user_id: int) -> np.ndarray | None:
    """The user's vector in ``version``, or None."""
    return _stored_vector(
        conn, "SELECT embedding FROM user_embeddings WHERE version = :v AND user_id = :id", {"v": version, "id": user_id}
    )


def all_user_vectors(conn: Connection, *, version: int) -> tuple[np.ndarray, np.ndarray]:
    """Every user vector of ``version``: user ids (sorted) and their vectors, row-aligned; read in
    COPY's binary form, the layout ``load_user_vectors`` wrote them in."""
    query = pgsql.SQL(
        "SELECT version, user_id, embedding FROM user_embeddings WHERE version = %(v)s ORDER BY user_id"
    )
    rows = copy_binary_out(conn, query, {"v": version}, _VECTOR_ROW)
    return rows["id"].astype(np.int64), rows["values"].astype(np.float32)


def pin_vector(conn: Connection, *, version: int, pin_id: int) -> np.ndarray | None:
    """The pin's vector in ``version``, or None."""
    return _stored_vector(conn, f"SELECT embedding FROM {partition_name(version)} WHERE pin_id = :id", {"id": pin_id})


@dataclass(frozen=True)
class VectorSearch:
    """One nearest-pin query: the ``k`` pins nearest ``vector`` among the pin vectors of ``version``."""

    version: int
    vector: np.ndarray
    k: int


def search_settings(ef_search: int) -> dict[str, str]:
    """The settings HNSW searches run under: the candidate list size, and iterative scans that
    keep results coming when the exclusion filter removes many of the first ones."""
    return {"hnsw.ef_search": str(ef_search), "hnsw.iterative_scan": "relaxed_order"}


def request_session(*, statement_timeout_ms: int, ef_search: int) -> dict[str, str]:
    """The settings each connection of the request pool starts with: every statement limited to
    ``statement_timeout_ms``, and the HNSW search settings."""
    return {"statement_timeout": str(statement_timeout_ms), **search_settings(ef_search)}


def nearest_pins(
    conn: Connection, *, version: int, query: np.ndarray, k: int, exclude: list[int], ef_search: int
) -> list[tuple[int, float]]:
    """(pin_id, cosine distance) of the ``k`` nearest pins by HNSW, skipping ``exclude``, with
    the search settings local to the caller's transaction."""
    _set_search_settings(conn, ef_search)
    return nearest_pins_many(conn, [VectorSearch(version, query, k)], exclude=exclude)[0]


def nearest_pin_ids(
    conn: Connection, *, version: int, queries: np.ndarray, k: int, ef_search: int, per_statement: int = 200
) -> np.ndarray:
    """``[len(queries), k]`` pin ids of each query's ``k`` nearest pins by HNSW, nearest first (-1
    pads), ``per_statement`` searches to a statement, with the search settings local to the
    caller's transaction."""
    _set_search_settings(conn, ef_search)
    found = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(queries), per_statement):
        searches = [VectorSearch(version, query, k) for query in queries[start : start + per_statement]]
        for row, pin_ids in enumerate(nearest_pin_ids_many(conn, searches, exclude=[]), start):
            found[row, : len(pin_ids)] = pin_ids
    return found


def _set_search_settings(conn: Connection, ef_search: int) -> None:
    """``search_settings(ef_search)`` for the rest of the caller's transaction, in one round trip."""
    params: dict[str, str] = {}
    for number, (name, value) in enumerate(search_settings(ef_search).items()):
        params[f"name{number}"], params[f"value{number}"] = name, value
    calls = ", ".join(f"set_config(:name{number}, :value{number}, true)" for number in range(len(params) // 2))
    conn.execute(text(f"SELECT {calls}"), params)


def nearest_pins_many(
    conn: Connection, searches: Sequence[VectorSearch], *, exclude: Sequence[int]
) -> list[list[tuple[int, float]]]:
    """(pin_id, cosine distance) of each search's nearest pins, nearest first (ties by pin id), skipping
    ``exclude``: one statement, so one round trip for all of them (see ``nearest_pin_ids_many``)."""
    return [list(zip(pin_ids, distances)) for pin_ids, distances in _nearest_many(conn, searches, exclude)]


def nearest_pin_ids_many(
    conn: Connection, searches: Sequence[VectorSearch], *, exclude: Sequence[int]
) -> list[np.ndarray]:
    """The pin ids (int64) of each search's nearest pins, nearest first (ties by pin id), skipping
    ``exclude``: one statement, so one round trip for all of them.

    Each search is its own HNSW index scan on its version's partition (naming the partition, an
    integer never user input, saves the planner ~2 ms of partition pruning). It runs under the
    connection's search settings (``search_settings``)."""
    return [np.array(pin_ids, dtype=np.int64) for pin_ids, _ in _nearest_many(conn, searches, exclude)]


def _nearest_many(
    conn: Connection, searches: Sequence[VectorSearch], exclude: Sequence[int]
) -> list[tuple[list[int], list[float]]]:
    """Each search's pin ids and distances, nearest first; one row per search comes back, its hits
    as two arrays, which the driver turns into lists far faster than it builds a row per hit."""
    if not searches:
        return []
    arms = [
        f"(SELECT {number} AS search, pin_id, embedding <=> CAST(%(q{number})s AS vector) AS distance "
        f"FROM {partition_name(search.version)} WHERE NOT (pin_id = ANY(%(exclude)s)) "
        f"ORDER BY embedding <=> CAST(%(q{number})s AS vector) LIMIT %(k{number})s)"
        for number, search in enumerate(searches)
    ]
    params: dict[str, object] = {"exclude": list(exclude)}
    for number, search in enumerate(searches):
        params[f"q{number}"] = "[" + ",".join(map(repr, np.asarray(search.vector, dtype=np.float32).tolist())) + "]"
        params[f"k{number}"] = search.k
    order = "ORDER BY distance, pin_id"
    statement = (
        f"SELECT search, array_agg(pin_id {order}), array_agg(distance {order}) FROM ("
        + " UNION ALL ".join(arms)
        + ") AS found GROUP BY search"
    )
    found: list[tuple[list[int], list[float]]] = [([], []) for _ in searches]
    for number, pin_ids, distances in fetch_all(conn, statement, params):  # one fetch, not one per row
        found[number] = (pin_ids, distances)
    return found
