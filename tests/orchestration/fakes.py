"""A light stand-in for the database resource, for asset tests that need no Postgres: a synthetic
world's tables are read from memory, versions are kept in a JSON ledger file. Publishing through
it runs the real ``ArtifactStore.publish``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from core.sources.synthetic import generate_world
from core.world import World
from orchestration.resources import Database, IdVectors
from sql.versions import ModelVersion


@lru_cache(maxsize=2)
def _world(name: str) -> World:
    return generate_world(name)


class FakeDatabase(Database):
    """The catalogue and events of the synthetic ``world``; versions in the ``ledger`` file.

    Staging a version records it (with the shapes of its vectors and its run), inactive;
    activating a run makes its newest version of each kind the serving one; nothing is pruned."""

    world: str = "tiny"
    ledger: str

    def engine(self) -> Engine:
        raise AssertionError("the fake database has no engine: an asset went around its methods")

    def read_table(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
        return _world(self.world).table(table)[list(columns)].copy()

    def read_actions(self, actions: tuple[str, ...]) -> pd.DataFrame:
        events = _world(self.world).events
        chosen = events[events["action"].isin(actions) & events["pin_id"].notna()]
        return chosen[["user_id", "pin_id", "action", "ts"]].astype({"pin_id": "int64"}).reset_index(drop=True)

    def version_for_run(self, kind: str, run_id: str) -> ModelVersion | None:
        rows = self.versions()
        built = [row for row in rows if row["kind"] == kind and row["run_id"] == run_id]
        serving = [row for row in rows if row["kind"] == kind and row["active"]]
        return next((_version(row) for row in [*built[-1:], *serving]), None)

    def stage(
        self,
        kind: str,
        artifact: Path,
        metrics: dict[str, Any],
        pins: IdVectors | None,
        users: IdVectors | None,
        run_id: str,
    ) -> tuple[int, int, int]:
        rows = self.versions()
        version = len(rows) + 1
        blocks = {"pins": pins, "users": users}
        loaded = {name: 0 if block is None else len(block.ids) for name, block in blocks.items()}
        widths = {name: block.vectors.shape[1] for name, block in blocks.items() if block is not None}
        rows.append(
            {"version": version, "kind": kind, "artifact": str(artifact), "metrics": metrics, "active": False,
             "run_id": run_id, "loaded": loaded, "widths": widths}
        )
        self._write(rows)
        return version, loaded["pins"], loaded["users"]

    def activate_run(self, run_id: str) -> list[ModelVersion]:
        rows = self.versions()
        built = {row["kind"]: row["version"] for row in rows if row["run_id"] == run_id}
        for row in rows:
            if row["kind"] in built:
                row["active"] = row["version"] == built[row["kind"]]
        self._write(rows)
        return [_version(row) for row in rows if row["version"] in built.values()]

    def prune_versions(self, kind: str, keep_previous: int) -> list[ModelVersion]:
        return []

    def versions(self) -> list[dict[str, Any]]:
        """Every version staged so far, oldest first."""
        path = Path(self.ledger)
        return json.loads(path.read_text()) if path.exists() else []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        Path(self.ledger).write_text(json.dumps(rows, default=float))


def _version(row: dict[str, Any]) -> ModelVersion:
    return ModelVersion(row["version"], row["kind"], row["artifact"], row["metrics"], row["active"], None)
