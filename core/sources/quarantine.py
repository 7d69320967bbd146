"""Rows a source rejected: one parquet file of them, and a summary of why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.atomic_files import atomic_path

QUARANTINE_COLUMNS = {"table": "string", "row_number": "int64", "reason": "string", "row": "string"}


@dataclass(frozen=True)
class QuarantineReport:
    """How many rows each (table, reason) lost, and the file holding them; empty for sources
    that cannot hold bad rows."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    path: Path | None = None

    @property
    def total(self) -> int:
        """Rows quarantined across all tables."""
        return sum(self.counts.values())

    def as_markdown(self) -> str:
        """A Markdown table of the counts, or a one-line all-clear."""
        if not self.counts:
            return "No rows quarantined."
        lines = ["| table | reason | rows |", "| --- | --- | ---: |"]
        lines += [
            f"| {table} | {reason} | {n} |" for (table, reason), n in sorted(self.counts.items())
        ]
        lines.append(f"| **total** | | {self.total} |")
        if self.path is not None:
            lines.append(f"\nThe rows and their reasons: `{self.path}`")
        return "\n".join(lines)


def rejected_rows(table: str, raw: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    """Quarantine rows for every row of ``raw`` that has a reason, the row kept as JSON."""
    bad = reason.notna().to_numpy()
    selected = raw[bad]
    # One JSON object per line, so splitting lines gives one string per rejected row.
    as_json = selected.to_json(orient="records", lines=True, date_format="iso") if bad.any() else ""
    return pd.DataFrame(
        {
            "table": table,
            "row_number": selected.index.to_numpy(),
            "reason": reason[bad].to_numpy(),
            "row": as_json.splitlines(),
        }
    ).astype(QUARANTINE_COLUMNS)


def write_quarantine(rejects: list[pd.DataFrame], path: Path) -> QuarantineReport:
    """Write all rejected rows to one parquet file (even when none) and summarize them."""
    frame = pd.concat(
        [pd.DataFrame(columns=list(QUARANTINE_COLUMNS)).astype(QUARANTINE_COLUMNS), *rejects],
        ignore_index=True,
    )
    with atomic_path(path) as partial:
        frame.to_parquet(partial, index=False)
    return _summary(frame, path)


def read_quarantine(path: Path) -> QuarantineReport:
    """The report of the rows ``write_quarantine`` wrote to ``path``."""
    return _summary(pd.read_parquet(path), path)


def _summary(frame: pd.DataFrame, path: Path) -> QuarantineReport:
    counts = frame.groupby(["table", "reason"]).size()
    return QuarantineReport({key: int(n) for key, n in counts.items()}, path)
