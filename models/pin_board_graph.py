"""The bipartite pin-board graph as CSR arrays, saved as a folder of memory-mappable .npy.

A graph is a version like any model (kind ``GRAPH_KIND``): ``save`` writes a new folder, whole or
not at all, and the folder is the version's artifact. The service memory-maps the folder of the
serving version when it loads the rest of the serving set, so the graph swaps with the models.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.atomic_files import atomic_folder, atomic_path

GRAPH_KIND = "pin_board_graph"


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

    def save(self, folder: Path) -> Path:
        """Write the arrays into ``folder``, which must not exist yet; returns it.

        The arrays are written and flushed to disk in a hidden folder beside it that is then
        renamed, so ``folder`` appears whole or not at all; a failed save leaves nothing.
        """
        with atomic_folder(folder) as partial:
            for field in fields(self):
                with atomic_path(partial / f"{field.name}.npy") as array_file:
                    np.save(array_file, np.ascontiguousarray(getattr(self, field.name)))
        return Path(folder)


class GraphFileError(ValueError):
    """A saved graph version whose files are missing, truncated or do not fit together."""


def load_mmap(folder: Path) -> PinBoardGraph:
    """Memory-map the graph saved in ``folder`` (arrays read-only, paged in on use) and check
    that its arrays fit together, so that a damaged save is refused here rather than read out of
    bounds by the walk kernel; raises GraphFileError otherwise."""
    try:
        graph = PinBoardGraph(
            **{f.name: np.load(Path(folder) / f"{f.name}.npy", mmap_mode="r") for f in fields(PinBoardGraph)}
        )
    except (OSError, ValueError, EOFError) as error:
        raise GraphFileError(f"pin-board graph {folder}: {error}") from error
    problem = _inconsistency(graph)
    if problem is not None:
        raise GraphFileError(f"pin-board graph {folder}: {problem}")
    return graph


def _inconsistency(graph: PinBoardGraph) -> str | None:
    """What is wrong with the CSR arrays of ``graph``, or None when both directions fit."""
    directions = (
        ("pin", graph.pin_ids, graph.pin_indptr, graph.pin_boards, graph.board_ids),
        ("board", graph.board_ids, graph.board_indptr, graph.board_pins, graph.pin_ids),
    )
    for name, ids, indptr, neighbours, other_ids in directions:
        arrays = (ids, indptr, neighbours)
        if any(array.ndim != 1 or not np.issubdtype(array.dtype, np.integer) for array in arrays):
            return f"{name} arrays are not 1-d integer arrays"
        if len(indptr) != len(ids) + 1 or indptr[0] != 0 or indptr[-1] != len(neighbours):
            return f"{name}_indptr does not span {len(neighbours)} edges of {len(ids)} {name}s"
        if np.any(np.diff(indptr) < 0):
            return f"{name}_indptr decreases"
        if len(neighbours) and (neighbours.min() < 0 or neighbours.max() >= len(other_ids)):
            return f"{name} edges point outside the {len(other_ids)} rows they index"
    if len(graph.pin_boards) != len(graph.board_pins):
        return f"{len(graph.pin_boards)} pin edges but {len(graph.board_pins)} board edges"
    return None


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
