"""Pin and user vectors in pgvector: one HNSW-indexed partition per version, nearest-pin queries."""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
from pgvector.sqlalchemy import Vector
from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from sql.bulk import copy_into

EMBEDDING_DIM = 64  # fixed by the vector(64) columns of migration 0002


def _vector_frame(id_column: str, ids: np.ndarray, vectors: np.ndarray, version: int) -> pd.DataFrame:
    if vectors.shape != (len(ids), EMBEDDING_DIM):
        raise ValueError(f"expected {len(ids)} x {EMBEDDING_DIM} vectors, got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    literals = ["[" + ",".join(f"{x:.6g}" for x in row) + "]" for row in vectors.tolist()]
    return pd.DataFrame({"version": version, id_column: ids, "embedding": literals})


def partition_name(version: int) -> str:
    """The table holding ``version``'s pin vectors and its HNSW index."""
    number = operator.index(version)  # an integer type, never text
    if number < 0:
        raise ValueError(f"a version is a non-negative integer, got {version!r}")
    return f"pin_embeddings_v{number}"


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
    rows = copy_into(conn, partition_name(version), _vector_frame("pin_id", pin_ids, vectors, version))
    driver.execute(pgsql.SQL("ALTER TABLE {} ADD PRIMARY KEY (version, pin_id)").format(partition))
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
    return copy_into(conn, "user_embeddings", _vector_frame("user_id", user_ids, vectors, version))


def limit_statement_time(conn: Connection, *, milliseconds: int) -> None:
    """Cancel any statement of the current transaction that runs longer than ``milliseconds``."""
    conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(milliseconds)})


def _stored_vector(conn: Connection, statement: str, params: dict[str, int]) -> np.ndarray | None:
    row = conn.execute(text(statement).columns(embedding=Vector(EMBEDDING_DIM)), params).first()
    return None if row is None else np.asarray(row.embedding, dtype=np.float32)


def user_vector(conn: Connection, *, version: int, user_id: int) -> np.ndarray | None:
    """The user's vector in ``version``, or None."""
    return _stored_vector(
        conn, "SELECT embedding FROM user_embeddings WHERE version = :v AND user_id = :id", {"v": version, "id": user_id}
    )


def all_user_vectors(conn: Connection, *, version: int) -> tuple[np.ndarray, np.ndarray]:
    """Every user vector of ``version``: user ids (sorted) and their vectors, row-aligned."""
    rows = conn.execute(
        text("SELECT user_id, embedding FROM user_embeddings WHERE version = :v ORDER BY user_id").columns(
            embedding=Vector(EMBEDDING_DIM)
        ),
        {"v": version},
    ).all()
    ids = np.array([row.user_id for row in rows], dtype=np.int64)
    vectors = np.array([row.embedding for row in rows], dtype=np.float32).reshape(len(rows), EMBEDDING_DIM)
    return ids, vectors


def pin_vector(conn: Connection, *, version: int, pin_id: int) -> np.ndarray | None:
    """The pin's vector in ``version``, or None."""
    return _stored_vector(
        conn, "SELECT embedding FROM pin_embeddings WHERE version = :v AND pin_id = :id", {"v": version, "id": pin_id}
    )


def nearest_pins(
    conn: Connection, *, version: int, query: np.ndarray, k: int, exclude: list[int], ef_search: int
) -> list[tuple[int, float]]:
    """(pin_id, cosine distance) of the ``k`` nearest pins by HNSW, skipping ``exclude``."""
    return nearest_pins_each(conn, version=version, queries=query[None, :], k=k, exclude=exclude, ef_search=ef_search)[0]


def nearest_pins_each(
    conn: Connection,
    *,
    version: int,
    queries: np.ndarray,
    k: int,
    exclude: list[int],
    ef_search: int,
    timeout_ms: int | None = None,
) -> list[list[tuple[int, float]]]:
    """``nearest_pins`` of each row of ``queries``, in one statement (one round trip for all).

    Settings are transaction-local and set in one round trip before it, with the statement
    timeout when ``timeout_ms`` is given; iterative scans keep ``k`` results coming when the
    filter removes many of the first ones.
    """
    settings = "SELECT set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)"
    if timeout_ms is not None:
        settings += ", set_config('statement_timeout', :ms, true)"
    conn.execute(text(settings), {"ef": str(ef_search), "ms": str(timeout_ms)})
    # Each query runs its own HNSW index scan inside the lateral join. Naming the version's
    # partition (an integer, never user input) saves the planner ~2 ms of partition pruning.
    statement = text(
        "SELECT q.ord, p.pin_id, p.distance FROM unnest(CAST(:queries AS vector[])) WITH ORDINALITY AS q(vec, ord) "
        f"CROSS JOIN LATERAL (SELECT pin_id, embedding <=> q.vec AS distance FROM {partition_name(version)} "
        "WHERE NOT (pin_id = ANY(:exclude)) ORDER BY embedding <=> q.vec LIMIT :k) p "
        "ORDER BY q.ord, p.distance"
    )
    literals = ["[" + ",".join(map(repr, row)) + "]" for row in np.asarray(queries, dtype=np.float32).tolist()]
    found: list[list[tuple[int, float]]] = [[] for _ in literals]
    for ordinal, pin_id, distance in conn.execute(statement, {"queries": literals, "k": k, "exclude": exclude}):
        found[ordinal - 1].append((int(pin_id), float(distance)))
    return found
