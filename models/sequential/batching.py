"""Turning item sequences into padded batches: left padding, and batches of similar lengths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

IGNORE = -1  # the target of a position that predicts nothing


def padding_token(n_items: int) -> int:
    """The id that fills the left of a short sequence: one past the last item."""
    return n_items


def left_pad(sequences: Sequence[np.ndarray], value: int) -> Tensor:
    """``[len(sequences), longest]`` int64, each sequence right-aligned and ``value`` to its left,
    so the last column holds every sequence's most recent entry."""
    longest = max((len(sequence) for sequence in sequences), default=0)
    padded = np.full((len(sequences), longest), value, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        if len(sequence):
            padded[row, longest - len(sequence) :] = sequence
    return torch.from_numpy(padded)


def length_buckets(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Row indices in batches of ``batch_size`` rows of similar length, so a short sequence is
    not padded to a long one. With ``rng`` equal lengths are ordered at random and the batches
    shuffled; without it, batches go shortest first."""
    lengths = np.asarray(lengths)
    tie_break = rng.random(len(lengths)) if rng is not None else np.arange(len(lengths))
    order = np.lexsort((tie_break, lengths))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if rng is None:
        return batches
    return [batches[b] for b in rng.permutation(len(batches))]
