import numpy as np
import pytest

from models.pin_board_graph import (
    POINTER,
    GraphHandle,
    PinBoardGraph,
    build_pin_board_graph,
    current_version,
    load_mmap,
)


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
    version = graph.save(tmp_path / "graph")
    assert version.parent == tmp_path / "graph" and current_version(tmp_path / "graph") == version.name
    for loaded in (PinBoardGraph.load(tmp_path / "graph"), load_mmap(tmp_path / "graph")):
        assert loaded.edges == 4 and np.array_equal(loaded.board_pins, graph.board_pins)
        assert np.array_equal(loaded.pin_ids, graph.pin_ids) and loaded.pin_indptr.dtype == np.int64


def test_load_mmap_maps_read_only_arrays(tmp_path):
    small_graph().save(tmp_path / "graph")
    mapped = load_mmap(tmp_path / "graph")
    assert isinstance(mapped.board_pins, np.memmap) and not mapped.board_pins.flags.writeable


def test_saves_swap_the_pointer_and_keep_one_previous_version(tmp_path):
    folder = tmp_path / "graph"
    versions = [small_graph(extra_pin=i % 2 == 1).save(folder) for i in range(4)]
    assert current_version(folder) == versions[-1].name
    assert sorted(p.name for p in folder.iterdir()) == sorted([POINTER, versions[-2].name, versions[-1].name])
    assert len(PinBoardGraph.load(folder).pin_ids) == 4


def test_a_failed_save_leaves_readers_on_the_old_graph(tmp_path, monkeypatch):
    folder = tmp_path / "graph"
    small_graph().save(folder)
    handle = GraphHandle(folder)
    real_save, written = np.save, []

    def save_then_fail(path, array):
        if len(written) == 3:
            raise OSError("disk full")
        written.append(path)
        real_save(path, array)

    monkeypatch.setattr(np, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        small_graph(extra_pin=True).save(folder)
    assert len(PinBoardGraph.load(folder).pin_ids) == 3
    assert not handle.reload_if_changed()
    monkeypatch.undo()
    newest = small_graph(extra_pin=True).save(folder)  # drops the failed save, keeps the previous
    assert sorted(p.name for p in folder.iterdir()) == sorted([POINTER, handle.version, newest.name])


def test_handle_swaps_in_a_new_save_and_old_references_stay_valid(tmp_path):
    folder = tmp_path / "graph"
    small_graph().save(folder)
    handle = GraphHandle(folder)
    held = handle.graph
    assert not handle.reload_if_changed() and handle.graph is held
    for _ in range(3):  # enough saves that the held version's files are deleted
        small_graph(extra_pin=True).save(folder)
    assert handle.reload_if_changed()
    assert len(handle.graph.pin_ids) == 4 and handle.version == current_version(folder)
    assert held.pin_ids.tolist() == [10, 20, 30] and held.board_pins.tolist() == [0, 1, 1, 2]
    assert not handle.reload_if_changed()


def test_handle_needs_a_saved_graph(tmp_path):
    with pytest.raises(FileNotFoundError):
        GraphHandle(tmp_path / "graph")


def test_unknown_edge_endpoints_are_rejected():
    with pytest.raises(ValueError, match="1 edges"):
        build_pin_board_graph(np.array([1]), np.array([2]), np.array([1, 9]), np.array([2, 2]))
