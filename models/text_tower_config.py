"""What the text tower is apart from its weights, free of torch: its settings, its checkpoint kind
and the text it reads of each pin. The service embeds queries in numpy (``models.served.text_tower``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.embedding_width import EMBEDDING_DIM
from models.tokenizer import TokenizerConfig

CHECKPOINT_KIND = "text_tower"


@dataclass
class TextTowerConfig:
    """Tokenizer, network shape and training settings; stored in the checkpoint.

    The tokenizer's fields sit here flat so the checkpoint holds plain values only.
    """

    buckets: int = 2**18
    min_n: int = 3
    max_n: int = 5
    dim: int = EMBEDDING_DIM  # the served width: its vectors go into pgvector
    hidden: int = 128
    temperature: float = 0.05
    epochs: int = 3
    batch_size: int = 256
    lr: float = 3e-3
    random_negatives: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        _ = self.tokenizer  # building it validates the tokenizer fields
        if min(self.dim, self.hidden, self.batch_size) < 1 or self.epochs < 0:
            raise ValueError(f"need dim, hidden, batch_size >= 1 and epochs >= 0: {self}")
        if self.temperature <= 0 or self.lr <= 0 or self.random_negatives < 0:
            raise ValueError(f"need temperature, lr > 0 and random_negatives >= 0: {self}")

    @property
    def tokenizer(self) -> TokenizerConfig:
        """The tokenizer settings as their own config."""
        return TokenizerConfig(self.buckets, self.min_n, self.max_n)


def pin_texts(pins: pd.DataFrame) -> list[str]:
    """Each pin's title and description as one text, in the row order of ``pins``."""
    title = pins["title"].astype("string").fillna("")
    description = pins["description"].astype("string").fillna("")
    return (title + " " + description).tolist()
