"""What a sequential model learns from a user's items: the training windows, the batch of
inputs and targets cut from them, and the input whose last position scores the next item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from torch import Tensor

from models.sequential.batching import IGNORE, left_pad, padding_token
from models.sequential.config import SequentialConfig


@dataclass(frozen=True)
class TrainingBatch:
    """Left-padded item ids ``[b, T]`` and the item each position must predict (``IGNORE``: none)."""

    inputs: Tensor
    targets: Tensor


class Objective(Protocol):
    """How a model trains on item sequences and how it is queried."""

    def training_window(self, sequence: np.ndarray) -> np.ndarray | None:
        """The part of a user's training items used each epoch; None when it teaches nothing."""
        ...

    def batch(self, windows: Sequence[np.ndarray], rng: np.random.Generator) -> TrainingBatch:
        """Inputs and targets cut from ``windows``; ``rng`` draws whatever is random (masks)."""
        ...

    def query(self, histories: Sequence[np.ndarray]) -> Tensor:
        """Left-padded inputs whose last position's output scores each user's next item."""
        ...


@dataclass(frozen=True)
class NextItem:
    """Every position predicts the item right after it (SASRec, GRU4Rec); a user trains on the
    most recent ``max_len + 1`` items, as in the SASRec paper."""

    config: SequentialConfig
    n_items: int

    def training_window(self, sequence: np.ndarray) -> np.ndarray | None:
        return sequence[-(self.config.max_len + 1) :] if len(sequence) >= 2 else None

    def batch(self, windows: Sequence[np.ndarray], rng: np.random.Generator) -> TrainingBatch:
        inputs = left_pad([window[:-1] for window in windows], padding_token(self.n_items))
        return TrainingBatch(inputs, left_pad([window[1:] for window in windows], IGNORE))

    def query(self, histories: Sequence[np.ndarray]) -> Tensor:
        return left_pad([history[-self.config.max_len :] for history in histories], padding_token(self.n_items))
