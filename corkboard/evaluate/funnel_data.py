"""The funnel's own data dir: the held-out world written as a folder and materialized there by
``corkboard materialize`` (the whole Dagster asset graph), reused while it holds the same world."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.database import stop_embedded_postgres
from core.settings import Settings
from core.sources.export import export_world
from core.world import TABLES, World

MANIFEST = "funnel.json"
WORLD_FOLDER = "world"
# The funnel measures what the path finds, so a busy machine must not time its database steps out.
QUALITY_BUDGETS = {"source_timeout_ms": 10_000, "database_deadline_ms": 20_000}


def funnel_data_dir(data_dir: Path, dataset: str) -> Path:
    """Where the funnel of ``dataset`` materializes: ``<data_dir>/funnel/<dataset>``."""
    return (data_dir / "funnel" / dataset).resolve()


def world_digest(world: World) -> str:
    """A digest of every row of every table, so a data dir is reused only for the very same world."""
    digest = hashlib.sha256()
    for table in TABLES:
        frame = world.table(table)
        digest.update(f"{table}:{','.join(frame.columns)}:{len(frame)}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def funnel_settings(base: Settings, folder: Path) -> Settings:
    """``base`` pointed at the funnel's data dir, with an embedded database of its own there and
    database budgets that a busy machine does not run out of."""
    return base.model_copy(
        update={
            "data_dir": folder, "database_url": None, "source_root": folder, "world": str(folder / WORLD_FOLDER),
            **QUALITY_BUDGETS,
        }
    )


def materialized_world(
    world: World, folder: Path, progress: Callable[[str], None]
) -> tuple[float | None, Callable[[], None]]:
    """Materialize ``world`` in ``folder`` unless it already holds it; returns the seconds spent
    materializing (None when reused) and how to stop the database it leaves running.

    ``folder`` is replaced when it holds another world (it must carry this module's manifest:
    a folder that does not is refused, not deleted)."""
    manifest_path = folder / MANIFEST
    digest = world_digest(world)
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None

    def stop() -> None:
        stop_embedded_postgres(folder / "postgres")

    if manifest == {"digest": digest, "materialized": True}:
        progress(f"funnel: reusing the materialized world in {folder}")
        return None, stop
    if folder.exists() and manifest is None and any(folder.iterdir()):
        raise ValueError(f"{folder} exists without {MANIFEST}; not a funnel data dir, so not replaced")
    if folder.exists():
        stop()
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    manifest_path.write_text(json.dumps({"digest": digest, "materialized": False}))
    export_world(world, folder / WORLD_FOLDER)
    started = time.perf_counter()
    _materialize_in(folder, progress)
    manifest_path.write_text(json.dumps({"digest": digest, "materialized": True}))
    return time.perf_counter() - started, stop


def _materialize_in(folder: Path, progress: Callable[[str], None]) -> None:
    """``corkboard materialize`` of the folder's world, in a process whose settings, Dagster
    instance and embedded database are the funnel's own."""
    env = {key: value for key, value in os.environ.items() if key != "CORKBOARD_DATABASE_URL"}
    env.update(
        CORKBOARD_DATA_DIR=str(folder), CORKBOARD_SOURCE_ROOT=str(folder), DAGSTER_HOME=str(folder / "dagster")
    )
    world, log = folder / WORLD_FOLDER, folder / "materialize.log"
    progress(f"funnel: materializing {world} in {folder} (log: {log})")
    command = [sys.executable, "-m", "corkboard.cli", "materialize", "--world", str(world)]
    with log.open("w") as output:
        code = subprocess.call(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"materializing the funnel's world failed ({log}):\n{log.read_text()[-4000:]}")
