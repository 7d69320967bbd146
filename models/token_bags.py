"""Bags of hashed tokens read from a sparse table one distinct token at a time."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bag_of_distinct_tokens(table: nn.Embedding, ids: Tensor, offsets: Tensor, mode: str) -> Tensor:
    """``F.embedding_bag(ids, table.weight, offsets, mode=mode)``, the same values. Where a gradient
    is taken, each distinct id's row is read once: a sparse ``table``'s gradient then holds a row per
    distinct token, not one per position, and so costs little to coalesce (a text tower batch of 512
    pins reads 120,821 positions of 5,541 tokens). Without one, finding the distinct ids only costs."""
    if not (torch.is_grad_enabled() and table.weight.requires_grad):
        return F.embedding_bag(ids, table.weight, offsets, mode=mode)
    distinct, position = ids.unique(return_inverse=True)
    return F.embedding_bag(position, table(distinct), offsets, mode=mode)
