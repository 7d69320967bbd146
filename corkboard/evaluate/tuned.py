"""The settings ``corkboard evaluate --tune`` chose, kept in a file under version control per dataset,
which ``corkboard evaluate`` reads: tuning and evaluation are separate runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corkboard.evaluate.grids import Setting
from core.atomic_files import atomic_path

TUNED_DIR = Path(__file__).resolve().parent / "tuned"

TunedModel = dict[str, Any]  # setting, validation figures, best epoch, every candidate's figures, seconds


def tuned_path(dataset: str, folder: Path = TUNED_DIR) -> Path:
    """Where the chosen settings of ``dataset`` are kept."""
    return folder / f"{dataset}.json"


def read_tuned(dataset: str, folder: Path = TUNED_DIR) -> dict[str, TunedModel]:
    """Model name -> what tuning chose for it on ``dataset``; empty when nothing was tuned."""
    path = tuned_path(dataset, folder)
    return json.loads(path.read_text())["models"] if path.exists() else {}


def record_tuned(dataset: str, name: str, tuned: TunedModel, folder: Path = TUNED_DIR) -> Path:
    """Add or replace ``name``'s entry in ``dataset``'s file, keeping every other model's."""
    models = {**read_tuned(dataset, folder), name: tuned}
    path = tuned_path(dataset, folder)
    document = {"dataset": dataset, "models": dict(sorted(models.items()))}
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(document, indent=2) + "\n")
    return path


def tuned_setting(tuned: dict[str, TunedModel], name: str) -> Setting | None:
    """The setting tuning chose for ``name``, or None when it was not tuned."""
    return None if name not in tuned else dict(tuned[name]["setting"])
