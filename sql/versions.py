"""Model and index versions: register beside the serving ones, swap a run's set in atomically,
roll back, prune.

Version numbers come from one sequence shared by every kind, so ``pin_embeddings_v<N>`` and
``user_embeddings`` rows of version N belong to exactly one row of ``model_versions``. A Dagster
run registers its versions tagged with its id, inactive, and ``activate_run`` makes them the
serving ones together once the run has succeeded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from sql.embeddings import partition_name

_COLUMNS = "version, kind, artifact, metrics, active, activated_at"


@dataclass(frozen=True)
class ModelVersion:
    version: int
    kind: str
    artifact: str
    metrics: dict[str, Any]
    active: bool
    activated_at: datetime | None  # when it last became the serving version; None if it never did


class NoPreviousVersionError(LookupError):
    """Rollback asked for, but the kind has no serving version or none older that once served."""


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(row.version, row.kind, row.artifact, dict(row.metrics), row.active, row.activated_at)


def _lock_kind(conn: Connection, kind: str) -> None:
    """Serialize activation, rollback and pruning of one kind until the transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('model_versions'), hashtext(:kind))"), {"kind": kind})


def _json_safe(value: Any) -> Any:
    """NaN and infinities (an AUC with one class absent) become null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def register_version(
    conn: Connection, *, kind: str, artifact: str, metrics: dict[str, Any], run_id: str | None = None
) -> int:
    """Record a new, not yet serving, version of ``kind``, built by the Dagster run ``run_id``;
    returns its number."""
    return conn.execute(
        text(
            "INSERT INTO model_versions (kind, artifact, metrics, run_id) "
            "VALUES (:kind, :artifact, CAST(:metrics AS jsonb), :run_id) RETURNING version"
        ),
        {"kind": kind, "artifact": artifact, "metrics": json.dumps(_json_safe(metrics)), "run_id": run_id},
    ).scalar_one()


def activate_version(conn: Connection, *, kind: str, version: int) -> None:
    """Make ``version`` the serving one of ``kind`` (within the caller's transaction)."""
    _lock_kind(conn, kind)
    conn.execute(text("UPDATE model_versions SET active = false WHERE kind = :kind AND active"), {"kind": kind})
    updated = conn.execute(
        text("UPDATE model_versions SET active = true, activated_at = now() WHERE kind = :kind AND version = :version"),
        {"kind": kind, "version": version},
    )
    if updated.rowcount != 1:
        raise LookupError(f"no {kind} version {version}")


def active_version(conn: Connection, *, kind: str) -> ModelVersion | None:
    """The serving version of ``kind``, if any."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM model_versions WHERE kind = :kind AND active"),
        {"kind": kind},
    ).first()
    return _row_to_version(row) if row else None


def active_versions(conn: Connection) -> dict[str, ModelVersion]:
    """The serving version of every kind, by kind, read by one statement: one snapshot, so never
    half of one activation and half of the next."""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM model_versions WHERE active ORDER BY kind"))
    return {row.kind: _row_to_version(row) for row in rows}


def run_version(conn: Connection, *, kind: str, run_id: str) -> ModelVersion | None:
    """The newest version of ``kind`` that the run ``run_id`` registered, if any."""
    row = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM model_versions WHERE kind = :kind AND run_id = :run_id "
            "ORDER BY version DESC LIMIT 1"
        ),
        {"kind": kind, "run_id": run_id},
    ).first()
    return _row_to_version(row) if row else None


def activate_run(conn: Connection, *, run_id: str) -> list[ModelVersion]:
    """Make the versions the run ``run_id`` registered (the newest of each kind it built) the
    serving ones, all in the caller's transaction; returns them as they now serve.

    Returns nothing when the run built no version, or when its set was activated before (a second
    call for the same run, even after a rollback, changes nothing). Kinds are locked in name
    order, as rollback locks them, so concurrent activations and rollbacks cannot deadlock.
    """
    built = [
        _row_to_version(row)
        for row in conn.execute(
            text(
                f"SELECT DISTINCT ON (kind) {_COLUMNS} FROM model_versions WHERE run_id = :run_id "
                "ORDER BY kind, version DESC"
            ),
            {"run_id": run_id},
        )
    ]
    if any(version.activated_at is not None for version in built):
        return []
    for version in built:
        activate_version(conn, kind=version.kind, version=version.version)
    serving = active_versions(conn)
    return [serving[version.kind] for version in built]


def latest_version(conn: Connection, *, kind: str) -> ModelVersion | None:
    """The newest registered version of ``kind``, serving or not."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM model_versions WHERE kind = :kind ORDER BY version DESC LIMIT 1"),
        {"kind": kind},
    ).first()
    return _row_to_version(row) if row else None


def serving_kinds(conn: Connection) -> list[str]:
    """Every kind that has a serving version, sorted."""
    return list(conn.scalars(text("SELECT kind FROM model_versions WHERE active ORDER BY kind")))


def previous_version(conn: Connection, *, kind: str) -> ModelVersion | None:
    """The newest version of ``kind`` older than the serving one that once served, if any."""
    row = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM model_versions WHERE kind = :kind AND activated_at IS NOT NULL "
            "AND version < (SELECT version FROM model_versions WHERE kind = :kind AND active) "
            "ORDER BY version DESC LIMIT 1"
        ),
        {"kind": kind},
    ).first()
    return _row_to_version(row) if row else None


def rollback_version(conn: Connection, *, kind: str) -> tuple[ModelVersion, ModelVersion]:
    """Serve the previous version of ``kind`` again; returns (the one replaced, the one now serving).

    Raises ``NoPreviousVersionError`` when there is nothing to return to. The newer version
    stays registered (and its data kept), so the next build's pruning decides its fate.
    """
    _lock_kind(conn, kind)
    serving = active_version(conn, kind=kind)
    if serving is None:
        raise NoPreviousVersionError(f"{kind} has no serving version")
    target = previous_version(conn, kind=kind)
    if target is None:
        raise NoPreviousVersionError(f"{kind} v{serving.version} is the oldest version kept: nothing to roll back to")
    activate_version(conn, kind=kind, version=target.version)
    return serving, active_version(conn, kind=kind)


def prune_versions(conn: Connection, *, kind: str, keep_previous: int) -> list[ModelVersion]:
    """Delete old versions of ``kind`` with their vectors, user medoids and pgvector partitions; returns them.

    Kept: the serving version, every newer one (a build in progress, or one rolled back from)
    and the ``keep_previous`` newest older versions that once served, so rollback still works.
    Older versions that never served are failed builds and go. The caller deletes the
    returned versions' artifact files once this transaction has committed.
    """
    if keep_previous < 0:
        raise ValueError(f"keep_previous must be >= 0, got {keep_previous}")
    _lock_kind(conn, kind)
    serving = active_version(conn, kind=kind)
    if serving is None:
        return []
    doomed = list(
        conn.scalars(
            text(
                "SELECT version FROM ("
                "  SELECT version, activated_at IS NOT NULL AS served,"
                "         row_number() OVER (PARTITION BY activated_at IS NOT NULL ORDER BY version DESC) AS rank"
                "  FROM model_versions WHERE kind = :kind AND version < :serving"
                ") older WHERE NOT served OR rank > :keep ORDER BY version"
            ),
            {"kind": kind, "serving": serving.version, "keep": keep_previous},
        )
    )
    if not doomed:
        return []
    driver = conn.connection.driver_connection
    for version in doomed:
        # Dropping a partition removes its rows and its HNSW index in one step.
        driver.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(partition_name(version))))
    for table in ("user_embeddings", "user_medoids"):
        conn.execute(text(f"DELETE FROM {table} WHERE version = ANY(:versions)"), {"versions": doomed})
    rows = conn.execute(
        text(f"DELETE FROM model_versions WHERE version = ANY(:versions) RETURNING {_COLUMNS}"),
        {"versions": doomed},
    )
    return sorted((_row_to_version(row) for row in rows), key=lambda version: version.version)
