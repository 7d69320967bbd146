"""Pixie walks on hand-built graphs: visits match exact personalized PageRank, and the knobs work."""

from __future__ import annotations

import numpy as np
import pytest

from models.pin_board_graph import PinBoardGraph, build_pin_board_graph, load_mmap
from models.pixie import PixieConfig, PixieResult, _walk, personalized_pagerank, pixie_walk, query_weights, warm_up

NO_EARLY_STOP = 10**9


def graph_of(boards: list[list[int]]) -> PinBoardGraph:
    """A graph whose board b holds the pins ``boards[b]``; pin and board ids equal their rows."""
    edge_boards = np.array([b for b, pins in enumerate(boards) for _ in pins])
    edge_pins = np.array([p for pins in boards for p in pins])
    return build_pin_board_graph(np.arange(edge_pins.max() + 1), np.arange(len(boards)), edge_pins, edge_boards)


def communities() -> PinBoardGraph:
    """Three communities of six pins and three boards (of 3, 3 and 4 pins), bridged by two boards."""
    boards = []
    for c in range(3):
        pins = list(range(6 * c, 6 * c + 6))
        boards += [pins[:3], pins[2:5], [pins[0], *pins[3:]]]
    return graph_of(boards + [[1, 7], [10, 14, 15]])


def dense_visits(result: PixieResult, n_pins: int) -> np.ndarray:
    visits = np.zeros(n_pins)
    visits[result.pin_rows] = result.visits
    return visits


def walk(graph: PinBoardGraph, rows: list[int], weights: list[float], **config: object) -> PixieResult:
    """``pixie_walk`` with early stopping and the boost off unless ``config`` turns them on."""
    settings = {"early_stop_pins": NO_EARLY_STOP, "multi_hit_boost": False, **config}
    return pixie_walk(graph, np.array(rows), np.array(weights, dtype=float), PixieConfig(**settings))


@pytest.mark.parametrize(
    ("restart", "max_degree", "rows", "weights"),
    [(0.5, None, [0, 3], [2.0, 1.0]), (0.3, None, [2], [1.0]), (0.7, 3, [1, 8, 13], [1.0, 1.0, 3.0])],
)
def test_visits_match_exact_personalized_pagerank(restart, max_degree, rows, weights) -> None:
    graph = communities()
    result = walk(graph, rows, weights, total_steps=2_000_000, restart_probability=restart, max_board_degree=max_degree)
    exact = personalized_pagerank(graph, np.array(rows), np.array(weights), restart, max_board_degree=max_degree)
    exact[rows] = 0.0  # query pins are left out of the walk's results
    visits = dense_visits(result, len(graph.pin_ids))
    assert np.abs(visits / visits.sum() - exact / exact.sum()).sum() < 0.01
    assert result.steps_taken == 2_000_000


def test_query_pins_are_left_out_and_results_are_sorted() -> None:
    result = walk(communities(), [0, 1, 7], [1.0, 1.0, 1.0], total_steps=50_000)
    assert not np.isin([0, 1, 7], result.pin_rows).any()
    assert np.all(np.diff(result.scores) <= 0) and len(result.pin_rows) == len(set(result.pin_rows.tolist()))


def test_top_k_keeps_the_best_scores() -> None:
    config = PixieConfig(total_steps=50_000, early_stop_pins=NO_EARLY_STOP)
    full = pixie_walk(communities(), np.array([0]), np.array([1.0]), config)
    short = pixie_walk(communities(), np.array([0]), np.array([1.0]), config, top_k=3)
    assert len(full.pin_rows) > 3 and short.pin_rows.tolist() == full.pin_rows[:3].tolist()


def test_pruned_boards_are_never_entered() -> None:
    # Pin 0 sits in 20 boards of 5 pins (pruned at 4) and in one small board with pin 1.
    big = [[0, 2 + 4 * b, 3 + 4 * b, 4 + 4 * b, 5 + 4 * b] for b in range(20)]
    graph = graph_of(big + [[0, 1]])
    result = walk(graph, [0], [1.0], total_steps=20_000, max_board_degree=4)
    assert result.pin_rows.tolist() == [1] and result.steps_taken == 20_000
    exact = personalized_pagerank(graph, np.array([0]), np.array([1.0]), 0.5, max_board_degree=4)
    assert exact[2:].sum() == 0.0
    unpruned = walk(graph, [0], [1.0], total_steps=20_000, max_board_degree=5)
    assert len(unpruned.pin_rows) == 81


def test_query_pin_with_only_pruned_boards_takes_no_steps() -> None:
    graph = graph_of([[0, 1, 2], [3, 4]])
    result = walk(graph, [0, 3], [1.0, 1.0], total_steps=1000, max_board_degree=2)
    assert result.pin_rows.tolist() == [4] and result.steps_taken == 500


def test_multi_hit_boost_favours_pins_reached_from_several_queries() -> None:
    # From query 0, pin 2 is twice as likely as pin 3; pin 3 is also reached from query 1.
    graph = graph_of([[0, 2], [0, 2], [0, 3], [0, 4], [1, 3], [1, 5], [1, 6], [1, 7]])
    plain = walk(graph, [0, 1], [1.0, 1.0], total_steps=200_000)
    plain_visits = dense_visits(plain, len(graph.pin_ids))
    assert plain_visits[2] == pytest.approx(plain_visits[3], rel=0.1)
    boosted = walk(graph, [0, 1], [1.0, 1.0], total_steps=200_000, multi_hit_boost=True)
    assert boosted.pin_rows[0] == 3
    scores = dict(zip(boosted.pin_rows.tolist(), boosted.scores.tolist()))
    assert scores[3] > 1.3 * scores[2]


def test_budget_follows_weights() -> None:
    # Two identical, disconnected triangles of boards.
    graph = graph_of([[0, 1, 2], [1, 2, 3], [0, 3], [4, 5, 6], [5, 6, 7], [4, 7]])
    result = walk(graph, [0, 4], [3.0, 1.0], total_steps=400_000)
    visits = dense_visits(result, len(graph.pin_ids))
    assert visits[:4].sum() / visits[4:].sum() == pytest.approx(3.0, rel=0.03)
    silent = walk(graph, [0, 4], [1.0, 0.0], total_steps=10_000)
    assert set(silent.pin_rows.tolist()) <= {1, 2, 3} and silent.steps_taken == 10_000


def test_repeated_query_rows_merge_their_weights() -> None:
    graph = communities()
    merged = walk(graph, [0, 3], [2.0, 1.0], total_steps=10_000)
    repeated = walk(graph, [3, 0, 0], [1.0, 1.5, 0.5], total_steps=10_000)
    assert np.array_equal(merged.pin_rows, repeated.pin_rows) and np.array_equal(merged.visits, repeated.visits)


def test_same_seed_same_result_and_other_seed_differs() -> None:
    graph = communities()
    first, again = (walk(graph, [0, 9], [1.0, 2.0], total_steps=20_000, seed=7) for _ in range(2))
    other = walk(graph, [0, 9], [1.0, 2.0], total_steps=20_000, seed=8)
    assert np.array_equal(first.pin_rows, again.pin_rows) and np.array_equal(first.scores, again.scores)
    assert not np.array_equal(dense_visits(first, 18), dense_visits(other, 18))


def test_early_stop_ends_a_walk_once_enough_pins_are_well_visited() -> None:
    graph = graph_of([[0, 1, 2]])
    result = walk(graph, [0], [1.0], total_steps=100_000, early_stop_pins=2, early_stop_visits=4)
    assert result.steps_taken < 100
    assert result.visits.min() >= 4 and len(result.pin_rows) == 2


def test_memory_mapped_graph_walks_like_the_loaded_one(tmp_path) -> None:
    graph = communities()
    graph.save(tmp_path / "graph")
    mapped = walk(load_mmap(tmp_path / "graph"), [0, 3], [2.0, 1.0], total_steps=10_000)
    loaded = walk(graph, [0, 3], [2.0, 1.0], total_steps=10_000)
    assert np.array_equal(mapped.pin_rows, loaded.pin_rows) and np.array_equal(mapped.visits, loaded.visits)


def test_empty_query_gives_empty_result() -> None:
    for rows, weights in (([], []), ([0, 1], [0.0, 0.0])):
        result = walk(communities(), rows, weights)
        assert len(result.pin_rows) == len(result.scores) == len(result.visits) == 0 and result.steps_taken == 0
    assert personalized_pagerank(communities(), np.array([], dtype=int), np.array([]), 0.5).sum() == 0.0


@pytest.mark.parametrize(
    ("rows", "weights", "message"),
    [
        ([18], [1.0], "query row 18 is out of range for a graph of 18 pins"),
        ([-1], [1.0], "query row -1 is out of range"),
        ([0], [-1.0], "finite and >= 0"),
        ([0], [np.nan], "finite and >= 0"),
        ([0, 1], [1.0], "must be 1-d and of one length"),
        ([0.5], [1.0], "must be integer pin rows"),
    ],
)
def test_invalid_queries_are_rejected(rows, weights, message) -> None:
    with pytest.raises(ValueError, match=message):
        pixie_walk(communities(), np.array(rows), np.array(weights))
    with pytest.raises(ValueError, match=message):
        personalized_pagerank(communities(), np.array(rows), np.array(weights), 0.5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"total_steps": -1}, "total_steps"),
        ({"restart_probability": 0.0}, "restart_probability"),
        ({"restart_probability": 1.5}, "restart_probability"),
        ({"max_board_degree": 0}, "max_board_degree"),
        ({"early_stop_visits": 0}, "early_stop"),
    ],
)
def test_invalid_config_is_rejected(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        PixieConfig(**settings)


def test_top_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="top_k"):
        pixie_walk(communities(), np.array([0]), np.array([1.0]), top_k=0)


def test_query_weights_decay_with_age_and_follow_action_strength() -> None:
    actions = ["save", "long_click", "click", "hide", "impression", "click"]
    weights = query_weights(np.array([0.0, 7.0, 14.0, 0.0, 0.0, 0.0]), actions)
    assert weights.tolist() == pytest.approx([3.0, 1.0, 0.25, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="2 actions"):
        query_weights(np.array([0.0]), ["save", "click"])
    with pytest.raises(ValueError, match=">= 0"):
        query_weights(np.array([-1.0]), ["save"])


def test_warm_up_compiles_the_kernel_a_served_graph_walks_with(tmp_path) -> None:
    warm_up()
    compiled = list(_walk.signatures)
    assert compiled
    graph_of([[0, 1], [1, 2]]).save(tmp_path / "graph")
    served = load_mmap(tmp_path / "graph")  # read-only memory maps, as the service holds them
    pixie_walk(served, np.array([0]), np.array([1.0]), PixieConfig(total_steps=10))
    assert _walk.signatures == compiled  # the first request compiles nothing more
