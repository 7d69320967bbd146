"""An embedding table held at 8 bits per value, with a float offset and step per row, for serving.

A hashed token table is mostly memory: 2**18 rows of 128 float32 values take 128 MB. Each row
stored as bytes beside its minimum and its step (``(max - min) / 255``) takes a little over a
quarter of that, and a value moves by at most half a step. This is the 8-bit rowwise layout that
large embedding tables are commonly served in; it is for inference only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LEVELS = 255  # the largest code of a byte
_CHUNK_ROWS = 16_384  # rows quantized at a time, so the float copies stay small beside the table


class RowwiseInt8Table:
    """The rows of a float table ``[rows, dim]``, each as bytes plus its minimum and step."""

    def __init__(self, weight: np.ndarray, hold: Callable[[np.ndarray], np.ndarray] = np.asarray) -> None:
        """``hold`` gets the finished codes and returns the array the table keeps (by default
        themselves; a memory map that several processes share, for one)."""
        if weight.ndim != 2:
            raise ValueError(f"weight must be [rows, dim], got shape {weight.shape}")
        self.codes = np.empty(weight.shape, dtype=np.uint8)
        self.low = np.empty(len(weight), dtype=np.float32)
        self.step = np.empty(len(weight), dtype=np.float32)
        for start in range(0, len(weight), _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            chunk = np.asarray(weight[rows], dtype=np.float32)
            low = chunk.min(axis=1)
            spread = chunk.max(axis=1) - low
            # A constant row keeps step 1: its codes are all 0 and it comes back exactly.
            step = np.where(spread > 0, spread / LEVELS, 1.0).astype(np.float32)
            self.low[rows], self.step[rows] = low, step
            self.codes[rows] = np.rint((chunk - low[:, None]) / step[:, None])
        self.codes = hold(self.codes)

    @property
    def shape(self) -> tuple[int, int]:
        """``[rows, dim]``, as the float table's."""
        rows, dim = self.codes.shape
        return rows, dim

    @property
    def nbytes(self) -> int:
        """The memory the table holds."""
        return self.codes.nbytes + self.low.nbytes + self.step.nbytes

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        """The float32 rows ``[len(ids), dim]`` the codes stand for."""
        return self.codes[ids].astype(np.float32) * self.step[ids, None] + self.low[ids, None]
