"""The settings every sequential baseline shares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SequentialConfig:
    """Network width, regularization, window length and training schedule of a sequential model.

    ``max_len`` is the number of most recent items the model reads; ``patience`` is the number of
    epochs without a better validation ndcg@10 before training stops.
    """

    hidden: int = 64
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_len: int = 200
    batch_size: int = 128
    epochs: int = 200
    patience: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.hidden, self.max_len, self.batch_size, self.patience) < 1 or self.epochs < 0:
            raise ValueError(f"need hidden, max_len, batch_size, patience >= 1 and epochs >= 0: {self}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"need lr > 0, weight_decay >= 0 and dropout in [0, 1): {self}")
