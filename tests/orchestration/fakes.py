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

    Swapping a version in records it (with the shapes of its vectors) and makes it the serving
    one of its kind; nothing is ever pruned."""

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

    def active_version(self, kind: str) -> ModelVersion | None:
        for row in self.versions():
            if row["kind"] == kind and row["active"]:
                return ModelVersion(row["version"], kind, row["artifact"], row["metrics"], True, None)
        return None

    def swap_in(
        self, kind: str, artifact: Path, metrics: dict[str, Any], pins: IdVectors | None, users: IdVectors | None
    ) -> tuple[int, int, int]:
        rows = [{**row, "active": row["active"] and row["kind"] != kind} for row in self.versions()]
        version = len(rows) + 1
        blocks = {"pins": pins, "users": users}
        loaded = {name: 0 if block is None else len(block.ids) for name, block in blocks.items()}
        widths = {name: block.vectors.shape[1] for name, block in blocks.items() if block is not None}
        rows.append(
            {"version": version, "kind": kind, "artifact": str(artifact), "metrics": metrics, "active": True,
             "loaded": loaded, "widths": widths}
        )
        Path(self.ledger).write_text(json.dumps(rows, default=float))
        return version, loaded["pins"], loaded["users"]

    def prune_versions(self, kind: str, keep_previous: int) -> list[ModelVersion]:
        return []

    def versions(self) -> list[dict[str, Any]]:
        """Every version swapped in so far, oldest first."""
        path = Path(self.ledger)
        return json.loads(path.read_text()) if path.exists() else []
