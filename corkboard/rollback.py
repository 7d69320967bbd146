"""`corkboard rollback`: serve the previous version of one kind, or of every kind that has one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from sql.versions import ModelVersion, NoPreviousVersionError, previous_version, rollback_version, serving_kinds


@dataclass(frozen=True)
class Rollback:
    """One kind returned from ``replaced`` to ``serving``."""

    kind: str
    replaced: ModelVersion
    serving: ModelVersion

    def describe(self) -> str:
        return f"{self.kind}: v{self.replaced.version} -> v{self.serving.version} ({self.serving.artifact})"


def roll_back(conn: Connection, *, kind: str | None = None) -> list[Rollback]:
    """Return ``kind`` (default: every kind with a previous version) to its previous version.

    Every kind changes in the caller's transaction, which must commit only if this returns.
    Raises ``NoPreviousVersionError`` when there is nothing to roll back to, and
    ``FileNotFoundError`` when a target's artifact file is gone.
    """
    if kind is None:
        kinds = [name for name in serving_kinds(conn) if previous_version(conn, kind=name) is not None]
        if not kinds:
            raise NoPreviousVersionError("no kind has a previous version to roll back to")
    else:
        kinds = [kind]
    done = [Rollback(name, *rollback_version(conn, kind=name)) for name in kinds]
    for rollback in done:
        if not Path(rollback.serving.artifact).exists():
            raise FileNotFoundError(
                f"{rollback.kind} v{rollback.serving.version}: artifact {rollback.serving.artifact} is missing"
            )
    return done
