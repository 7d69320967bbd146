"""The pin-board graph as a DGL heterograph: pins and boards, an edge each way per saved pin."""

from __future__ import annotations

from collections.abc import Sequence

import dgl
import numpy as np
import torch

PIN, BOARD = "pin", "board"
SAVED_TO, HOLDS = "saved_to", "holds"


def pin_board_graph(n_pins: int, boards: Sequence[np.ndarray]) -> dgl.DGLGraph:
    """Pins ``0..n_pins-1`` and one board node per entry of ``boards`` (each an array of pin
    indices); ``pin -saved_to-> board`` and ``board -holds-> pin`` per distinct (pin, board).

    Pins on no board stay in the graph as isolated nodes: they are embedded from their features.
    """
    sizes = np.array([len(board) for board in boards], dtype=np.int64)
    pins = np.concatenate([np.empty(0, np.int64), *(np.asarray(board, dtype=np.int64) for board in boards)])
    if len(pins) and (pins.min() < 0 or pins.max() >= n_pins):
        raise ValueError(f"board pins must be indices in [0, {n_pins})")
    stride = max(n_pins, 1)
    edges = np.unique(np.repeat(np.arange(len(boards), dtype=np.int64), sizes) * stride + pins)
    edge_pins, edge_boards = torch.from_numpy(edges % stride), torch.from_numpy(edges // stride)
    return dgl.heterograph(
        {(PIN, SAVED_TO, BOARD): (edge_pins, edge_boards), (BOARD, HOLDS, PIN): (edge_boards, edge_pins)},
        num_nodes_dict={PIN: n_pins, BOARD: len(boards)},
    )


def csr(graph: dgl.DGLGraph, etype: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of ``etype``'s out-edges: row i lists the destinations of node i."""
    indptr, indices, _ = graph.adj_tensors("csr", etype=etype)
    return indptr.numpy(), indices.numpy()
