"""An embedding table held at 8 bits per value, with a float offset and step per row, for serving.

A hashed token table is mostly memory: 2**18 rows of 128 float32 values take 128 MB. Each row
stored as bytes beside its minimum and its step (``(max - min) / 255``) takes a little over a
quarter of that, and a value moves by at most half a step. This is the 8-bit rowwise layout that
large embedding tables are commonly served in; it is for inference only (no gradient reaches
the bytes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEVELS = 255  # the largest code of a byte
_CHUNK_ROWS = 16_384  # rows quantized at a time, so the float copies stay small beside the table


class RowwiseInt8Bag(nn.Module):
    """Mean of bags of rows, as ``nn.EmbeddingBag(mode="mean")``, over an 8-bit rowwise table."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        weight = weight.detach()
        if weight.ndim != 2:
            raise ValueError(f"weight must be [rows, dim], got shape {tuple(weight.shape)}")
        codes = torch.empty(weight.shape, dtype=torch.uint8)
        low = torch.empty(len(weight))
        step = torch.empty(len(weight))
        for start in range(0, len(weight), _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            chunk = weight[rows].float()
            low[rows] = chunk.min(dim=1).values
            spread = chunk.max(dim=1).values - low[rows]
            # A constant row keeps step 1: its codes are all 0 and it comes back exactly.
            step[rows] = torch.where(spread > 0, spread / LEVELS, torch.ones_like(spread))
            codes[rows] = torch.round((chunk - low[rows, None]) / step[rows, None]).to(torch.uint8)
        self.register_buffer("codes", codes)
        self.register_buffer("low", low)
        self.register_buffer("step", step)

    def rows(self, ids: Tensor) -> Tensor:
        """The float32 rows ``[len(ids), dim]`` the codes stand for."""
        return self.codes[ids].float() * self.step[ids, None] + self.low[ids, None]

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        """``[len(offsets), dim]``: the mean row of each bag; an empty bag gives zeros."""
        return F.embedding_bag(torch.arange(len(ids)), self.rows(ids), offsets, mode="mean")
