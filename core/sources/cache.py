"""Worlds kept as parquet under the data dir, so that a run reads its source once, not per asset."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

from core.atomic_files import atomic_path
from core.sources import SOURCE_NAMES, load_world
from core.sources.files import table_files
from core.sources.quarantine import QuarantineReport, read_quarantine
from core.world import TABLES, World, conform

FOLDERS = "folders"
QUARANTINE = "quarantine.parquet"
# Part of a folder's fingerprint: bump it when validation changes, so folders are checked again.
CACHE_FORMAT = 1


def cached_world(name_or_path: str, source_dir: Path) -> tuple[World, QuarantineReport]:
    """``load_world(name_or_path)``, kept under ``source_dir`` and read from there next time.

    A named world is kept in ``source_dir/<name>``. A folder is kept in
    ``source_dir/folders/<folder>/<fingerprint>``, the fingerprint taken from its table files'
    names, sizes and modification times, so an edited file is read and validated again (and
    the copy of the older files removed); its quarantined rows are kept there too.
    """
    if name_or_path in SOURCE_NAMES:
        return _cached(source_dir / name_or_path, name_or_path)
    cache = _folder_cache(Path(name_or_path), source_dir)
    loaded = _cached(cache, name_or_path)
    for stale in cache.parent.iterdir():
        if stale != cache:
            shutil.rmtree(stale, ignore_errors=True)
    return loaded


def _cached(cache: Path, name_or_path: str) -> tuple[World, QuarantineReport]:
    """The world kept in ``cache``, loaded and kept there first if it is not complete."""
    quarantine = cache / QUARANTINE
    if (cache / "events.parquet").exists():
        frames = {name: pd.read_parquet(cache / f"{name}.parquet") for name in TABLES}
        world = World(**{name: conform(name, frame) for name, frame in frames.items()})
        return world, read_quarantine(quarantine) if quarantine.exists() else QuarantineReport()
    world, report = load_world(name_or_path, quarantine_path=quarantine)
    for name in TABLES:  # events last: its presence marks a complete cache
        with atomic_path(cache / f"{name}.parquet") as unfinished:
            world.table(name).to_parquet(unfinished, index=False)
    return world, report


def _folder_cache(folder: Path, source_dir: Path) -> Path:
    """Where the current contents of ``folder`` are kept."""
    folder = folder.resolve()
    files = [(path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in table_files(folder)]
    return source_dir / FOLDERS / _digest([str(folder)]) / _digest([CACHE_FORMAT, files])


def _digest(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
