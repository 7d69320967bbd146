"""A visual embedding version: the trained CNN plus the vector of every pin it embedded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.visual.config import CHECKPOINT_KIND, VisualConfig
from models.visual.model import VisualCNN


@dataclass(frozen=True)
class VisualArtifact:
    """``vectors[i]`` (unit length, float32) is the visual embedding of pin ``pin_ids[i]``;
    ``model`` embeds pins that came later."""

    model: VisualCNN
    pin_ids: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if self.pin_ids.ndim != 1 or self.vectors.shape != (
            len(self.pin_ids),
            self.model.config.dim,
        ):
            raise ValueError(
                f"need pin_ids [n] and vectors [n, {self.model.config.dim}]; "
                f"got {self.pin_ids.shape} and {self.vectors.shape}"
            )
        if len(np.unique(self.pin_ids)) != len(self.pin_ids):
            raise ValueError("pin_ids has repeated values")

    def save(self, path: Path) -> None:
        """Write config, weights, topic names, pin ids and vectors to one checkpoint file."""
        state = {
            "model": dict(self.model.state_dict()),
            "topics": list(self.model.topics),
            "pin_ids": np.asarray(self.pin_ids, dtype=np.int64),
            "vectors": np.asarray(self.vectors, dtype=np.float32),
        }
        save_checkpoint(path, kind=CHECKPOINT_KIND, config=self.model.config, state=state)

    @classmethod
    def load(cls, path: Path | str) -> VisualArtifact:
        """Read ``save``'s file (model in eval mode); ``CheckpointError`` when it is unusable."""
        config, state = load_checkpoint(Path(path), kind=CHECKPOINT_KIND, config_type=VisualConfig)
        try:
            model = VisualCNN(config, state["topics"])
            model.load_state_dict(state["model"])
            return cls(model.eval(), state["pin_ids"], state["vectors"])
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error

    def aligned(self, pin_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors ``[len(pin_ids), dim]`` in the order of ``pin_ids``, and a boolean mask of
        the pins this artifact has; a pin it lacks gets a zero vector."""
        rows = pd.Index(self.pin_ids).get_indexer(np.asarray(pin_ids, dtype=np.int64))
        present = rows >= 0
        vectors = np.zeros((len(pin_ids), self.vectors.shape[1]), dtype=np.float32)
        vectors[present] = self.vectors[rows[present]]
        return vectors, present
