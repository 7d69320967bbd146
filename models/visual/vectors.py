"""Every pin's visual vector from a visual version's file, without the CNN (and without torch)."""

from __future__ import annotations

from pathlib import Path

from models.pin_vector_file import PinVectorFile
from models.visual.config import CHECKPOINT_KIND, VisualConfig


def load_visual_vectors(path: Path) -> PinVectorFile:
    """The pin ids and unit vectors of ``VisualArtifact.save``'s file; ``CheckpointError`` when it is unusable."""
    return PinVectorFile.read(
        path, kind=CHECKPOINT_KIND, config_type=VisualConfig, ids_key="pin_ids", vectors_key="vectors"
    )
