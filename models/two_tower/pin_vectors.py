"""A served two-tower version's pin vectors read back without torch (``TwoTowerRecommender.save``
writes them with the network): what the page's two-tower prior scores candidates with."""

from __future__ import annotations

from pathlib import Path

from models.pin_vector_file import PinVectorFile
from models.two_tower.config import CHECKPOINT_KIND, TwoTowerConfig


def load_two_tower_vectors(path: Path) -> PinVectorFile:
    """Pin ids and their pin-tower vectors of ``TwoTowerRecommender.save``'s file; ``CheckpointError``
    when it is unusable."""
    return PinVectorFile.read(
        path, kind=CHECKPOINT_KIND, config_type=TwoTowerConfig, ids_key="item_ids", vectors_key="item_vectors"
    )
