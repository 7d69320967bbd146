import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.pin_board_graph import GraphFileError, PinBoardGraph, build_pin_board_graph, load_mmap


def small_graph(extra_pin: bool = False) -> PinBoardGraph:
    pins = [30, 10, 20, 40] if extra_pin else [30, 10, 20]
    edge_pins, edge_boards = [10, 20, 20, 30] + [40] * extra_pin, [5, 5, 7, 7] + [7] * extra_pin
    return build_pin_board_graph(np.array(pins), np.array([7, 5]), np.array(edge_pins), np.array(edge_boards))


def test_csr_in_both_directions_and_round_trip(tmp_path):
    graph = small_graph()
    assert graph.pin_ids.tolist() == [10, 20, 30] and graph.board_ids.tolist() == [5, 7]
    boards_of = lambda p: graph.board_ids[graph.pin_boards[graph.pin_indptr[p] : graph.pin_indptr[p + 1]]].tolist()
    pins_of = lambda b: graph.pin_ids[graph.board_pins[graph.board_indptr[b] : graph.board_indptr[b + 1]]].tolist()
    assert [boards_of(p) for p in range(3)] == [[5], [5, 7], [7]]
    assert [pins_of(b) for b in range(2)] == [[10, 20], [20, 30]]
    saved = graph.save(tmp_path / "graph" / "v1")
    assert saved == tmp_path / "graph" / "v1" and sorted(p.name for p in saved.parent.iterdir()) == ["v1"]
    loaded = load_mmap(saved)
    assert loaded.edges == 4 and np.array_equal(loaded.board_pins, graph.board_pins)
    assert np.array_equal(loaded.pin_ids, graph.pin_ids) and loaded.pin_indptr.dtype == np.int64


def test_load_mmap_maps_read_only_arrays(tmp_path):
    mapped = load_mmap(small_graph().save(tmp_path / "graph"))
    assert isinstance(mapped.board_pins, np.memmap) and not mapped.board_pins.flags.writeable


def test_a_failed_save_leaves_no_folder(tmp_path, monkeypatch):
    real_save, written = np.save, []

    def save_then_fail(path, array):
        if len(written) == 3:
            raise OSError("disk full")
        written.append(path)
        real_save(path, array)

    monkeypatch.setattr(np, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        small_graph().save(tmp_path / "graph" / "v1")
    assert list((tmp_path / "graph").iterdir()) == []


def truncated_copy(folder: Path, damaged: Path) -> Path:
    """A copy at ``damaged`` of the graph saved in ``folder``, with one array cut in half."""
    shutil.copytree(folder, damaged)
    array = damaged / "board_pins.npy"
    array.write_bytes(array.read_bytes()[: array.stat().st_size // 2])
    return damaged


def test_a_damaged_save_is_refused(tmp_path):
    good = small_graph()
    with pytest.raises(GraphFileError, match="damaged: "):
        load_mmap(truncated_copy(good.save(tmp_path / "graph"), tmp_path / "damaged"))
    outside = dataclasses.replace(good, board_pins=good.board_pins + len(good.pin_ids))  # rows past the last pin
    with pytest.raises(GraphFileError, match="point outside"):
        load_mmap(outside.save(tmp_path / "outside"))
    with pytest.raises(GraphFileError, match="absent"):
        load_mmap(tmp_path / "absent")


def test_unknown_edge_endpoints_are_rejected():
    with pytest.raises(ValueError, match="1 edges"):
        build_pin_board_graph(np.array([1]), np.array([2]), np.array([1, 9]), np.array([2, 2]))
