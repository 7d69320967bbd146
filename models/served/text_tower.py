"""The text tower's forward pass in numpy, from ``models.text_tower.save_text_tower``'s file:
queries and pin texts to unit vectors, the token table in float or at 8 bits per value; and the
catalogue's pin vectors that the file keeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from models.checkpoint import CheckpointError, load_checkpoint
from models.pin_vector_file import PinVectorFile
from models.rowwise_int8 import RowwiseInt8Table
from models.served.layers import Weights, float32_weights, linear, relu, unit_rows
from models.text_pin_vectors import stored_text_vectors
from models.text_tower_config import CHECKPOINT_KIND, TextTowerConfig
from models.tokenizer import tokenize

TokenTable = np.ndarray | RowwiseInt8Table


@dataclass(frozen=True)
class ServedTextTower:
    """``TextTower`` in eval mode: the mean of a text's token rows through the MLP, normalized."""

    config: TextTowerConfig
    tokens: TokenTable  # [buckets, hidden]
    mlp: Weights

    @classmethod
    def from_state(cls, path: Path, config: TextTowerConfig, state: dict[str, Any]) -> ServedTextTower:
        """The tower with its float token table from the checkpoint ``state`` read from ``path``
        (named in errors); ``CheckpointError`` when it does not fit ``config``."""
        try:
            tokens = np.ascontiguousarray(state["model"]["tokens.weight"], dtype=np.float32)
            mlp = float32_weights(state["model"], prefix="mlp.")
            shapes = (tokens.shape, mlp["0.weight"].shape, mlp["2.weight"].shape)
            expected = ((config.buckets, config.hidden), (config.hidden, config.hidden), (config.dim, config.hidden))
            if shapes != expected:
                raise ValueError(f"token table and MLP shapes {shapes}, expected {expected}")
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
        return cls(config, tokens, mlp)

    def quantized(self, hold: Callable[[np.ndarray], np.ndarray] = np.asarray) -> ServedTextTower:
        """This tower with its token table at 8 bits per value (``models.rowwise_int8``: a quarter of
        the memory, its codes kept as ``hold`` returns them); query vectors keep a cosine above 0.9999
        with the float table's."""
        if isinstance(self.tokens, RowwiseInt8Table):
            return self
        return replace(self, tokens=RowwiseInt8Table(self.tokens, hold))

    def embed(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """Unit vectors float32 ``[len(texts), dim]``; a text without tokens gets the tower's fixed
        vector for an empty bag."""
        chunks = [np.empty((0, self.config.dim), dtype=np.float32)]
        for start in range(0, len(texts), batch_size):
            ids, offsets = tokenize(list(texts[start : start + batch_size]), self.config.tokenizer)
            hidden = relu(linear(bag_means(self.tokens, ids, offsets), self.mlp, "0"))
            chunks.append(unit_rows(linear(hidden, self.mlp, "2")))
        return np.concatenate(chunks)


def bag_means(table: TokenTable, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``nn.EmbeddingBag(mode="mean")``: the mean row of each bag ``ids[offsets[i]:offsets[i + 1]]``
    (the last runs to the end); an empty bag gives zeros. One sparse product of the bags' weights
    with the table: 20x faster than summing gathered rows per bag."""
    lengths = np.diff(np.append(offsets, len(ids)))
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
    if isinstance(table, RowwiseInt8Table):
        rows, columns = table[ids], np.arange(len(ids))  # only the bags' rows come back as floats
    else:
        rows, columns = table, ids
    bags = sparse.csr_matrix((weights, columns, np.append(offsets, len(ids))), shape=(len(offsets), len(rows)))
    return np.asarray(bags @ rows, dtype=np.float32)


def load_text_index(path: Path) -> tuple[ServedTextTower, PinVectorFile | None]:
    """The tower of ``models.text_tower.save_text_tower``'s file and the catalogue's pin vectors it
    keeps (None for a file that keeps none); ``CheckpointError`` when the file is unusable."""
    config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=TextTowerConfig, as_numpy=True)
    return ServedTextTower.from_state(path, config, state), stored_text_vectors(path, config.dim, state)
