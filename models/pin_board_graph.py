"""The bipartite pin-board graph as CSR arrays, saved as versioned folders of memory-mappable .npy.

Layout of a graph folder: one sub-folder per saved version holding one ``<array>.npy`` per
field, and a ``CURRENT`` file naming the version readers should open. ``save`` writes a new
version beside the old ones and swaps ``CURRENT`` atomically, every file flushed to disk first,
so a reader (or a restart after a crash) sees the old graph or the new one, never half of one. ``GraphHandle`` lets a service pick up a new save
without restarting.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np

from core.atomic_files import atomic_path

POINTER = "CURRENT"


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
        """Write a new version under ``folder`` and make it current; returns the version's folder.

        Readers of ``folder`` see the previous graph until the pointer swap, then this one.
        Older versions are deleted, except the previous one, which a reader may be opening.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # Zero-padded nanoseconds sort by age; the random suffix keeps concurrent writers apart.
        version = Path(tempfile.mkdtemp(prefix=f"v{time.time_ns():020d}-", dir=folder))
        version.chmod(0o755)  # mkdtemp makes it owner-only; a service under another user must read it
        for field in fields(self):
            with atomic_path(version / f"{field.name}.npy") as array_file:
                np.save(array_file, np.ascontiguousarray(getattr(self, field.name)))
        previous = current_version(folder) if (folder / POINTER).exists() else None
        with atomic_path(folder / POINTER) as pointer:
            pointer.write_text(version.name)
        for stale in folder.iterdir():
            # Older folders are past versions or failed saves; newer ones may be a concurrent save.
            if stale.is_dir() and stale.name < version.name and stale.name != previous:
                # Open memory maps keep their pages after the unlink, so a serving handle is unaffected.
                shutil.rmtree(stale, ignore_errors=True)
        return version

    @classmethod
    def load(cls, folder: Path) -> PinBoardGraph:
        """Read the current version of ``folder`` into memory."""
        return _read(Path(folder), current_version(folder), mmap_mode=None)


def load_mmap(folder: Path) -> PinBoardGraph:
    """Memory-map the current version of ``folder``: arrays are read-only and paged in on use."""
    return _read(Path(folder), current_version(folder), mmap_mode="r")


def current_version(folder: Path) -> str:
    """The version name ``CURRENT`` points at; FileNotFoundError when nothing was saved yet."""
    return (Path(folder) / POINTER).read_text().strip()


class GraphHandle:
    """The serving copy of the graph saved in ``folder``, memory-mapped and swappable.

    Take ``handle.graph`` once per request: a concurrent ``reload_if_changed`` replaces the
    reference, never the arrays a request already holds.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        version = current_version(self.folder)
        self._current = (version, _open_checked(self.folder, version))

    @property
    def graph(self) -> PinBoardGraph:
        return self._current[1]

    @property
    def version(self) -> str:
        return self._current[0]

    def reload_if_changed(self) -> bool:
        """Swap in the current save if it is newer than the one held; True when it swapped.

        Raises GraphFileError, keeping the graph it holds, when the new save is damaged."""
        with self._lock:
            version = current_version(self.folder)
            if version == self._current[0]:
                return False
            # One tuple assignment: readers see the old pair or the new pair, never a mix.
            self._current = (version, _open_checked(self.folder, version))
            return True


class GraphFileError(ValueError):
    """A saved graph version whose files are missing, truncated or do not fit together."""


def _open_checked(folder: Path, version: str) -> PinBoardGraph:
    """Memory-map ``version`` of ``folder`` and check that its arrays fit together, so that a
    damaged save is refused here rather than read out of bounds by the walk kernel."""
    try:
        graph = _read(folder, version, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        raise GraphFileError(f"pin-board graph {folder / version}: {error}") from error
    problem = _inconsistency(graph)
    if problem is not None:
        raise GraphFileError(f"pin-board graph {folder / version}: {problem}")
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


def _read(folder: Path, version: str, mmap_mode: Literal["r"] | None) -> PinBoardGraph:
    return PinBoardGraph(
        **{f.name: np.load(folder / version / f"{f.name}.npy", mmap_mode=mmap_mode) for f in fields(PinBoardGraph)}
    )


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
