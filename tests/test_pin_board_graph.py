import numpy as np
import pytest

from models.pin_board_graph import PinBoardGraph, build_pin_board_graph


def test_csr_in_both_directions_and_round_trip(tmp_path):
    graph = build_pin_board_graph(
        pin_ids=np.array([30, 10, 20]),
        board_ids=np.array([7, 5]),
        edge_pins=np.array([10, 20, 20, 30]),
        edge_boards=np.array([5, 5, 7, 7]),
    )
    assert graph.pin_ids.tolist() == [10, 20, 30] and graph.board_ids.tolist() == [5, 7]
    boards_of = lambda p: graph.board_ids[graph.pin_boards[graph.pin_indptr[p] : graph.pin_indptr[p + 1]]].tolist()
    pins_of = lambda b: graph.pin_ids[graph.board_pins[graph.board_indptr[b] : graph.board_indptr[b + 1]]].tolist()
    assert [boards_of(p) for p in range(3)] == [[5], [5, 7], [7]]
    assert [pins_of(b) for b in range(2)] == [[10, 20], [20, 30]]
    graph.save(tmp_path / "g.npz")
    loaded = PinBoardGraph.load(tmp_path / "g.npz")
    assert loaded.edges == 4 and np.array_equal(loaded.board_pins, graph.board_pins)


def test_unknown_edge_endpoints_are_rejected():
    with pytest.raises(ValueError, match="1 edges"):
        build_pin_board_graph(np.array([1]), np.array([2]), np.array([1, 9]), np.array([2, 2]))
