"""A served PinSAGE version read back without DGL or torch: every pin's vector
(``PinSageRecommender.save`` writes the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.checkpoint import CheckpointError
from models.pin_vector_file import PinVectorFile
from models.pinsage.config import CHECKPOINT_KIND, PinSageConfig


def load_pinsage_vectors(path: Path) -> PinVectorFile:
    """Pin ids (sorted) and their unit vectors of ``PinSageRecommender.save``'s file;
    ``CheckpointError`` when it is unusable."""
    vectors = PinVectorFile.read(
        path, kind=CHECKPOINT_KIND, config_type=PinSageConfig, ids_key="item_ids", vectors_key="item_vectors"
    )
    if np.any(np.diff(vectors.pin_ids) <= 0):
        raise CheckpointError(f"checkpoint {path}: its pin ids are not sorted")
    return vectors
