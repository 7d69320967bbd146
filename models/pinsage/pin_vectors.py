"""A served PinSAGE version read back without DGL: every pin's vector (``PinSageRecommender.save``
writes the file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.checkpoint import CheckpointError, load_checkpoint
from models.pinsage.config import CHECKPOINT_KIND, PinSageConfig


@dataclass(frozen=True)
class PinSageVectors:
    """Pin ids (sorted) and their unit vectors, row-aligned."""

    pin_ids: np.ndarray
    vectors: np.ndarray

    @classmethod
    def load(cls, path: Path) -> PinSageVectors:
        """The vectors of ``PinSageRecommender.save``'s file; ``CheckpointError`` when it is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=PinSageConfig)
        try:
            pin_ids, vectors = np.asarray(state["item_ids"]), np.asarray(state["item_vectors"])
        except KeyError as error:
            raise CheckpointError(f"checkpoint {path} holds no pin vectors: {error}") from error
        if vectors.shape != (len(pin_ids), config.dim) or np.any(np.diff(pin_ids) <= 0):
            raise CheckpointError(
                f"checkpoint {path}: {vectors.shape} vectors for {len(pin_ids)} pin ids of width {config.dim}"
            )
        return cls(pin_ids, vectors)
