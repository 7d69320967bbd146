"""Model and index versions: register beside the serving one, then swap atomically."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class ModelVersion:
    version: int
    kind: str
    artifact: str
    metrics: dict[str, Any]
    active: bool


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(row.version, row.kind, row.artifact, dict(row.metrics), row.active)


def _json_safe(value: Any) -> Any:
    """NaN and infinities (an AUC with one class absent) become null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def register_version(conn: Connection, *, kind: str, artifact: str, metrics: dict[str, Any]) -> int:
    """Record a new, not yet serving, version of ``kind``; returns its number."""
    return conn.execute(
        text(
            "INSERT INTO model_versions (kind, artifact, metrics) "
            "VALUES (:kind, :artifact, CAST(:metrics AS jsonb)) RETURNING version"
        ),
        {"kind": kind, "artifact": artifact, "metrics": json.dumps(_json_safe(metrics))},
    ).scalar_one()


def activate_version(conn: Connection, *, kind: str, version: int) -> None:
    """Make ``version`` the serving one of ``kind`` (within the caller's transaction)."""
    conn.execute(text("UPDATE model_versions SET active = false WHERE kind = :kind AND active"), {"kind": kind})
    updated = conn.execute(
        text("UPDATE model_versions SET active = true WHERE kind = :kind AND version = :version"),
        {"kind": kind, "version": version},
    )
    if updated.rowcount != 1:
        raise LookupError(f"no {kind} version {version}")


def active_version(conn: Connection, *, kind: str) -> ModelVersion | None:
    """The serving version of ``kind``, if any."""
    row = conn.execute(
        text("SELECT version, kind, artifact, metrics, active FROM model_versions WHERE kind = :kind AND active"),
        {"kind": kind},
    ).first()
    return _row_to_version(row) if row else None


def latest_version(conn: Connection, *, kind: str) -> ModelVersion | None:
    """The newest registered version of ``kind``, serving or not."""
    row = conn.execute(
        text(
            "SELECT version, kind, artifact, metrics, active FROM model_versions "
            "WHERE kind = :kind ORDER BY version DESC LIMIT 1"
        ),
        {"kind": kind},
    ).first()
    return _row_to_version(row) if row else None
