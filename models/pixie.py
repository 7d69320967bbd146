"""Pixie: candidate pins from random walks with restart on the pin-board graph (DESIGN.md §1).

Each query pin (a pin the user engaged with recently) gets a share of the step budget in
proportion to its weight and runs many short walks from itself; a step is one
pin -> board -> pin hop and each pin a step lands on gets a visit. Boards above
``max_board_degree`` pins are never entered, and a query pin's walks stop early once enough
pins are well visited. Visit counts estimate personalized PageRank (``personalized_pagerank``
computes it exactly, for tests); the multi-hit boost favours pins reached from several query
pins. The walk is one numba loop over the CSR arrays, so no Python runs per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import sparse

from models.co_engagement import ACTION_WEIGHTS
from models.pin_board_graph import PinBoardGraph, build_pin_board_graph

HALF_LIFE_DAYS = 7.0  # an engagement a week old seeds half as many steps as one from today
_QUERY_SLOT = -2  # marks query pins in the kernel's slot array so their visits are not counted
_WALKERS = 64  # walks advanced together; enough independent reads to keep the memory system busy


@dataclass(frozen=True)
class PixieConfig:
    """Walk settings; ``1 / restart_probability`` is the expected walk length in steps."""

    total_steps: int = 100_000
    restart_probability: float = 0.5
    max_board_degree: int | None = 2000
    early_stop_pins: int = 500
    early_stop_visits: int = 4
    multi_hit_boost: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {self.total_steps}")
        if not 0.0 < self.restart_probability <= 1.0:
            raise ValueError(f"restart_probability must be in (0, 1], got {self.restart_probability}")
        if self.max_board_degree is not None and self.max_board_degree < 1:
            raise ValueError(f"max_board_degree must be >= 1 or None, got {self.max_board_degree}")
        if self.early_stop_pins < 1 or self.early_stop_visits < 1:
            raise ValueError("early_stop_pins and early_stop_visits must be >= 1")


@dataclass(frozen=True)
class PixieResult:
    """Top pins by score, best first; ``visits`` are raw counts summed over query pins."""

    pin_rows: np.ndarray
    scores: np.ndarray
    visits: np.ndarray
    steps_taken: int


def query_weights(ages_days: np.ndarray, actions: list[str]) -> np.ndarray:
    """Weight of each recent engagement as a query pin: action strength times recency decay.

    Strength is ``ACTION_WEIGHTS`` (save 3, long_click 2, click 1); actions without a positive
    weight (hide, impression, search) get 0. The decay halves every ``HALF_LIFE_DAYS``.
    """
    ages = np.asarray(ages_days, dtype=np.float64)
    if ages.shape != (len(actions),):
        raise ValueError(f"ages_days has shape {ages.shape} but there are {len(actions)} actions")
    if not np.all(np.isfinite(ages) & (ages >= 0)):
        raise ValueError("ages_days must be finite and >= 0")
    strength = np.array([max(ACTION_WEIGHTS.get(action, 0.0), 0.0) for action in actions], dtype=np.float64)
    return strength * 0.5 ** (ages / HALF_LIFE_DAYS)


def pixie_walk(
    graph: PinBoardGraph,
    query_rows: np.ndarray,
    query_weights: np.ndarray,
    config: PixieConfig = PixieConfig(),
    top_k: int = 1000,
) -> PixieResult:
    """The ``top_k`` pins visited by walks from ``query_rows`` (pin rows), query pins excluded.

    Repeated query rows are merged by summing their weights. A query pin without an unpruned
    board takes no steps. With ``multi_hit_boost`` a pin scores ``(sum_q sqrt(V_q))**2`` over
    its per-query visit counts ``V_q``, otherwise its total visits.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    rows, weights = _checked_query(graph, query_rows, query_weights)
    pins, visits, root_sums, steps_taken = _walk(
        *(_read_only(array) for array in (graph.pin_indptr, graph.pin_boards, graph.board_indptr, graph.board_pins)),
        rows,
        _split_budget(config.total_steps, weights),
        config.restart_probability,
        _degree_limit(config.max_board_degree),
        config.early_stop_pins,
        config.early_stop_visits,
        config.seed,
    )
    scores = root_sums**2 if config.multi_hit_boost else visits.astype(np.float64)
    top = _top(scores, pins, top_k)
    return PixieResult(pins[top].astype(np.int64), scores[top], visits[top], int(steps_taken))


def personalized_pagerank(
    graph: PinBoardGraph,
    query_rows: np.ndarray,
    query_weights: np.ndarray,
    restart_probability: float,
    iterations: int = 200,
    max_board_degree: int | None = None,
) -> np.ndarray:
    """Exact personalized PageRank over pins for the walk ``pixie_walk`` samples, by power iteration.

    Each query pin is solved with restarts to itself alone and the solutions are mixed by
    weight, as the walk splits its step budget. Pixie's visits to non-query pins are
    proportional to this vector.
    """
    rows, weights = _checked_query(graph, query_rows, query_weights)
    n_pins, n_boards = len(graph.pin_indptr) - 1, len(graph.board_indptr) - 1
    if weights.sum() == 0:
        return np.zeros(n_pins)
    board_degree = np.diff(graph.board_indptr)
    edge_pins = np.repeat(np.arange(n_pins), np.diff(graph.pin_indptr))
    kept = board_degree[graph.pin_boards] <= _degree_limit(max_board_degree)
    adjacency = sparse.csr_matrix(
        (np.ones(int(kept.sum())), (edge_pins[kept], graph.pin_boards[kept])), shape=(n_pins, n_boards)
    )
    pin_degree = np.asarray(adjacency.sum(axis=1)).ravel()
    per_pin = np.divide(1.0, pin_degree, out=np.zeros(n_pins), where=pin_degree > 0)[:, None]
    per_board = np.divide(1.0, board_degree, out=np.zeros(n_boards), where=board_degree > 0)[:, None]
    stuck = pin_degree == 0
    restart = np.zeros((n_pins, len(rows)))
    restart[rows, np.arange(len(rows))] = 1.0
    mass = restart.copy()
    for _ in range(iterations):
        moved = adjacency @ (per_board * (adjacency.T @ (per_pin * mass)))
        # Mass at a pin without unpruned boards goes back to its query pin (only a stuck query pin has any).
        moved += restart * mass[stuck].sum(axis=0)
        mass = restart_probability * restart + (1.0 - restart_probability) * moved
    return mass @ (weights / weights.sum())


def warm_up() -> None:
    """Compile (or load from numba's cache) the walk kernel on a tiny graph before serving."""
    graph = build_pin_board_graph(np.arange(3), np.arange(2), np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]))
    pixie_walk(graph, np.array([0]), np.array([1.0]), PixieConfig(total_steps=10))


def _checked_query(graph: PinBoardGraph, query_rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, weights = np.asarray(query_rows), np.asarray(weights, dtype=np.float64)
    if rows.ndim != 1 or weights.ndim != 1 or len(rows) != len(weights):
        raise ValueError(f"query_rows {rows.shape} and query_weights {weights.shape} must be 1-d and of one length")
    if len(rows) and not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"query_rows must be integer pin rows, got dtype {rows.dtype}")
    n_pins = len(graph.pin_indptr) - 1
    outside = rows[(rows < 0) | (rows >= n_pins)]
    if len(outside):
        raise ValueError(f"query row {outside[0]} is out of range for a graph of {n_pins} pins")
    if not np.all(np.isfinite(weights) & (weights >= 0)):
        raise ValueError("query_weights must be finite and >= 0")
    unique, position = np.unique(rows.astype(np.int64), return_inverse=True)
    return unique, np.bincount(position, weights=weights, minlength=len(unique))


def _split_budget(total_steps: int, weights: np.ndarray) -> np.ndarray:
    """Steps per query pin in proportion to weight, summing to ``total_steps`` exactly."""
    total_weight = weights.sum()
    if total_weight == 0:
        return np.zeros(len(weights), dtype=np.int64)
    share = total_steps * weights / total_weight
    steps = np.floor(share).astype(np.int64)
    # Largest remainders first; only pins with a positive share can have a remainder.
    steps[np.argsort(steps - share, kind="stable")[: total_steps - steps.sum()]] += 1
    return steps


def _degree_limit(max_board_degree: int | None) -> int:
    return np.iinfo(np.int64).max if max_board_degree is None else int(max_board_degree)


def _read_only(array: np.ndarray) -> np.ndarray:
    # In-memory and memory-mapped graphs then share one compiled kernel signature.
    view = array.view(np.ndarray)
    view.flags.writeable = False
    return view


def _top(scores: np.ndarray, pins: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the ``top_k`` best scores, best first; ties go to the lower pin row."""
    candidates = np.argpartition(-scores, top_k - 1)[:top_k] if len(scores) > top_k else np.arange(len(scores))
    return candidates[np.lexsort((pins[candidates], -scores[candidates]))]


def _compiled(function: Callable) -> Callable:
    """``njit`` with numba's disk cache, or without it where no cache folder is writable."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError as error:  # numba found neither the package folder nor ~/.cache writable
        if "no locator available" not in str(error):
            raise
        return njit(nogil=True)(function)


@_compiled
def _uniform_below(n):
    """A uniform integer in [0, n) with no branch on ``n``, so a pending read of ``n`` stalls nothing."""
    return np.int64(np.random.random() * n)


@_compiled
def _unpruned_boards(start, end, pin_boards, board_indptr, max_degree):
    """How many of the boards in ``pin_boards[start:end]`` have degree <= ``max_degree``."""
    count = 0
    for edge in range(start, end):
        board = pin_boards[edge]
        if board_indptr[board + 1] - board_indptr[board] <= max_degree:
            count += 1
    return count


@_compiled
def _unpruned_board(start, end, pin_boards, board_indptr, max_degree):
    """A uniform board of degree <= ``max_degree`` from ``pin_boards[start:end]``; at least one must exist."""
    pick = _uniform_below(_unpruned_boards(start, end, pin_boards, board_indptr, max_degree))
    for edge in range(start, end):
        board = pin_boards[edge]
        if board_indptr[board + 1] - board_indptr[board] <= max_degree:
            if pick == 0:
                return board
            pick -= 1
    return -1


@_compiled
def _hop(walkers, current, first, past, edge, board, pin_indptr, pin_boards, board_indptr, board_pins, max_degree):
    """Moves ``current[:walkers]`` one pin -> board -> pin hop each.

    Reads that miss the cache sit in tight loops of their own, free of branches and random
    draws, so the CPU keeps the misses of many walkers in flight at once.
    """
    for w in range(walkers):
        first[w], past[w] = pin_indptr[current[w]], pin_indptr[current[w] + 1]
    for w in range(walkers):
        edge[w] = first[w] + _uniform_below(past[w] - first[w])
    for w in range(walkers):
        board[w] = pin_boards[edge[w]]
    for w in range(walkers):
        first[w], past[w] = board_indptr[board[w]], board_indptr[board[w] + 1]
    for w in range(walkers):
        if past[w] - first[w] > max_degree:
            # Redrawing among unpruned boards after a pruned pick keeps the choice uniform.
            redrawn = _unpruned_board(
                pin_indptr[current[w]], pin_indptr[current[w] + 1], pin_boards, board_indptr, max_degree
            )
            first[w], past[w] = board_indptr[redrawn], board_indptr[redrawn + 1]
        edge[w] = first[w] + _uniform_below(past[w] - first[w])
    for w in range(walkers):
        current[w] = board_pins[edge[w]]


@_compiled
def _walk(
    pin_indptr, pin_boards, board_indptr, board_pins, query_rows, query_steps,
    restart_probability, max_degree, early_stop_pins, early_stop_visits, seed,
):
    """Visited pins (in first-visit order), their total visits, sum_q sqrt(V_q), steps taken.

    ``_WALKERS`` walks from a query pin advance together, one hop per round, so that their
    independent memory reads overlap.
    """
    np.random.seed(seed)
    n_pins = len(pin_indptr) - 1
    capacity = min(query_steps.sum(), n_pins)
    # slot[p] is p's index in the compact outputs, -1 before its first visit.
    slot = np.full(n_pins, -1, dtype=np.int32)
    for q in query_rows:
        slot[q] = _QUERY_SLOT
    pins = np.empty(capacity, dtype=np.int32)
    visits = np.zeros(capacity, dtype=np.int64)
    root_sums = np.zeros(capacity, dtype=np.float64)
    query_visits = np.zeros(capacity, dtype=np.int32)
    touched = np.empty(capacity, dtype=np.int32)
    current, walk_left, first, past, edge, board = np.empty((6, _WALKERS), dtype=np.int64)
    seen = np.empty(_WALKERS, dtype=np.int32)
    n_out = 0
    steps_taken = 0
    for i in range(len(query_rows)):
        query, budget = query_rows[i], query_steps[i]
        # Every other pin was reached through an unpruned board, so only a query pin can be stuck.
        stuck = _unpruned_boards(pin_indptr[query], pin_indptr[query + 1], pin_boards, board_indptr, max_degree) == 0
        if budget == 0 or stuck:
            continue
        walk_left[:] = 0
        n_touched = 0
        well_visited = 0
        taken = 0
        stopped = False
        while taken < budget and not stopped:
            walkers = min(_WALKERS, budget - taken)
            for w in range(walkers):
                if walk_left[w] == 0:
                    current[w] = query
                    walk_left[w] = np.random.geometric(restart_probability)
                walk_left[w] -= 1
            _hop(
                walkers, current, first, past, edge, board, pin_indptr, pin_boards, board_indptr, board_pins, max_degree
            )
            for w in range(walkers):
                seen[w] = slot[current[w]]  # a tight loop of reads again, before the branches below
            for w in range(walkers):
                taken += 1
                # A pin first seen this round has its slot already, though seen[w] still says -1.
                s = seen[w] if seen[w] != -1 else slot[current[w]]
                if s == _QUERY_SLOT:
                    continue
                if s < 0:
                    s = n_out
                    slot[current[w]] = s
                    pins[s] = current[w]
                    n_out += 1
                if query_visits[s] == 0:
                    touched[n_touched] = s
                    n_touched += 1
                query_visits[s] += 1
                if query_visits[s] == early_stop_visits:
                    well_visited += 1
                    if well_visited >= early_stop_pins:
                        stopped = True  # hops the other walkers made this round are dropped
                        break
        for j in range(n_touched):
            s = touched[j]
            visits[s] += query_visits[s]
            root_sums[s] += math.sqrt(query_visits[s])
            query_visits[s] = 0
        steps_taken += taken
    return pins[:n_out], visits[:n_out], root_sums[:n_out], steps_taken
