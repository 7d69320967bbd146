"""Where worlds come from: the synthetic generator, MovieLens-100K, or a folder of files."""

from __future__ import annotations

import datetime
from pathlib import Path

from core.sources.errors import SourceError
from core.sources.files import load_folder
from core.sources.movielens import load_movielens_100k
from core.sources.quarantine import QuarantineReport
from core.sources.synthetic import (
    DEFAULT_END_DATE,
    SIZES,
    generate_world,
    generate_world_with_truth,
)
from core.world import World

MOVIELENS = "ml100k"
SOURCE_NAMES = (*SIZES, MOVIELENS)
QUARANTINE_FILE = "_quarantine.parquet"

__all__ = [
    "SOURCE_NAMES",
    "QuarantineReport",
    "SourceError",
    "generate_world",
    "generate_world_with_truth",
    "load_folder",
    "load_movielens_100k",
    "load_world",
]


def load_world(
    name_or_path: str,
    end_date: datetime.date = DEFAULT_END_DATE,
    quarantine_path: Path | None = None,
    seed: int = 0,
) -> tuple[World, QuarantineReport]:
    """The world named ``tiny``, ``demo``, ``large`` or ``ml100k``, or read from a folder.

    Named worlds have nothing to quarantine (an empty report). A folder's rejected rows go to
    ``quarantine_path``, by default ``<folder>/_quarantine.parquet``. ``seed`` only affects
    synthetic worlds; ``end_date`` does not affect a folder, whose times are its own.
    """
    if name_or_path in SIZES:
        return generate_world(name_or_path, seed=seed, end_date=end_date), QuarantineReport()
    if name_or_path == MOVIELENS:
        return load_movielens_100k(end_date=end_date), QuarantineReport()
    folder = Path(name_or_path)
    if not folder.is_dir():
        raise SourceError(
            f"{name_or_path!r} is neither a known source ({', '.join(SOURCE_NAMES)}) nor a folder"
        )
    return load_folder(folder, quarantine_path or folder / QUARANTINE_FILE)
