"""Every pin's text vector as the text index computed it, kept in the text tower's checkpoint
beside its weights: the ranker's training and the service map these instead of embedding the
whole catalogue again (on the large world that took 50 of the service's 81 s of start-up). A pin
the file lacks, added to the catalogue since or absent from a file written before the vectors
were kept, is embedded when asked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.pin_vector_file import PinVectorFile

PIN_IDS_KEY, PIN_VECTORS_KEY = "pin_ids", "pin_vectors"  # entries of the checkpoint's state


def pin_vector_state(vectors: PinVectorFile) -> dict[str, np.ndarray]:
    """The checkpoint state entries that keep ``vectors``."""
    return {PIN_IDS_KEY: vectors.pin_ids, PIN_VECTORS_KEY: vectors.vectors}


def stored_text_vectors(path: Path, dim: int, state: Mapping[str, Any]) -> PinVectorFile | None:
    """The pin vectors kept in a text tower checkpoint's ``state`` (read from ``path``); None for a
    file that keeps none; ``CheckpointError`` when it keeps them damaged or not ``dim`` wide."""
    if PIN_IDS_KEY not in state and PIN_VECTORS_KEY not in state:
        return None
    return PinVectorFile.from_state(path, dim, state, ids_key=PIN_IDS_KEY, vectors_key=PIN_VECTORS_KEY)


def text_vectors_of(
    pin_ids: np.ndarray, stored: PinVectorFile | None, embed_pins: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Unit vectors float32 ``[len(pin_ids), dim]``, row-aligned with ``pin_ids``: the ``stored``
    vector of each pin it holds, and ``embed_pins`` of the ids of the others, in their order
    (called only when there are others, or nothing is stored)."""
    pin_ids = np.asarray(pin_ids, dtype=np.int64)
    rows = np.full(len(pin_ids), -1) if stored is None else pd.Index(stored.pin_ids).get_indexer(pin_ids)
    missing = np.flatnonzero(rows < 0)
    embedded = embed_pins(pin_ids[missing]) if stored is None or len(missing) else stored.vectors[:0]
    vectors = np.empty((len(pin_ids), embedded.shape[1]), dtype=np.float32)
    vectors[missing] = embedded
    if stored is not None:
        found = np.flatnonzero(rows >= 0)
        vectors[found] = stored.vectors[rows[found]]
    return vectors
