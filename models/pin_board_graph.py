"""The bipartite pin-board graph as CSR arrays, saved as one .npz for memory-mapped loading."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PinBoardGraph:
    """Pins and boards by dense index; ``pin_boards[pin_indptr[i]:pin_indptr[i+1]]`` are pin i's."""

    pin_ids: np.ndarray
    board_ids: np.ndarray
    pin_indptr: np.ndarray
    pin_boards: np.ndarray
    board_indptr: np.ndarray
    board_pins: np.ndarray

    @property
    def edges(self) -> int:
        return len(self.pin_boards)

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old graph or the new one, never half of one."""
        partial = path.with_suffix(".tmp.npz")
        np.savez(partial, **{f.name: getattr(self, f.name) for f in fields(self)})
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> PinBoardGraph:
        with np.load(path) as arrays:
            return cls(**{f.name: arrays[f.name] for f in fields(cls)})


def _csr(rows: np.ndarray, cols: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, cols[order].astype(np.int32)


def build_pin_board_graph(
    pin_ids: np.ndarray, board_ids: np.ndarray, edge_pins: np.ndarray, edge_boards: np.ndarray
) -> PinBoardGraph:
    """CSR in both directions from edge lists of ids; every edge must name a known pin and board."""
    pin_ids, board_ids = np.unique(pin_ids), np.unique(board_ids)
    pin_index = np.searchsorted(pin_ids, edge_pins)
    board_index = np.searchsorted(board_ids, edge_boards)
    known = (pin_index < len(pin_ids)) & (board_index < len(board_ids))
    known[known] &= (pin_ids[pin_index[known]] == edge_pins[known]) & (board_ids[board_index[known]] == edge_boards[known])
    if not known.all():
        raise ValueError(f"{int((~known).sum())} edges name unknown pins or boards")
    pin_indptr, pin_boards = _csr(pin_index, board_index, len(pin_ids))
    board_indptr, board_pins = _csr(board_index, pin_index, len(board_ids))
    return PinBoardGraph(pin_ids, board_ids, pin_indptr, pin_boards, board_indptr, board_pins)
