"""Any world written as the folder a user brings: one parquet or CSV file per table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.atomic_files import atomic_path
from core.sources.files import table_files
from core.world import SCHEMA, TABLES, World

FORMATS = ("parquet", "csv")


def export_world(world: World, folder: Path, file_format: str = "parquet") -> list[Path]:
    """Write every table of ``world`` to ``folder/<table>.<file_format>`` as ``load_folder``
    reads it back; returns the files in table order.

    CSV cells hold ISO-8601 times with their offset, ``true``/``false`` and empty cells for
    missing values. Raises ValueError for an unknown format and FileExistsError when ``folder``
    already holds table files, which are the user's data and not ours to replace.
    """
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; expected one of {', '.join(FORMATS)}")
    folder = Path(folder)
    existing = table_files(folder) if folder.is_dir() else []
    if existing:
        names = ", ".join(path.name for path in existing)
        raise FileExistsError(f"{folder} already holds {names}; export into an empty folder")
    written = []
    for table in TABLES:
        path = folder / f"{table}.{file_format}"
        with atomic_path(path) as partial:
            if file_format == "parquet":
                world.table(table).to_parquet(partial, index=False)
            else:
                _as_csv_cells(table, world.table(table)).to_csv(partial, index=False)
        written.append(path)
    return written


def _as_csv_cells(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with times as ISO-8601 text and truth values as ``true``/``false``."""
    cells = frame.copy()
    for column, dtype in SCHEMA[table].items():
        if dtype.startswith("datetime64"):
            cells[column] = frame[column].map(lambda ts: ts.isoformat(), na_action="ignore")
        elif dtype == "bool":
            cells[column] = frame[column].map({True: "true", False: "false"})
    return cells
