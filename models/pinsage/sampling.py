"""Importance-based neighbourhoods (PinSAGE section 3.2): a pin's neighbours are the pins that
short random walks from it visit most, weighted by their normalized visit counts.

Walks run in numpy with a seeded generator, so a neighbourhood is reproducible for a given
graph and seed and DGL's global random state is left alone.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch

from models.pinsage.graph import BOARD, HOLDS, PIN, SAVED_TO, csr

# Random numbers drawn, and the indices they pick, at a time in a walk's hop (8 MB of doubles).
DRAWS_AT_ONCE = 2**20
# Start pins whose visits are counted, and whose most visited pins are kept, at a time: the counting
# sorts their walkers' (pin, visited pin) keys: with 30 walks of at most 3 hops, each going on with
# chance 1/2, about 65,536 x 30 x 1.75 = 3.4M of them.
PINS_PER_COUNT = 2**16


def visit_counts(
    graph: dgl.DGLGraph,
    pins: np.ndarray,
    *,
    walks: int,
    walk_length: int,
    restart_prob: float,
    rng: np.random.Generator,
    top_k: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, visited, count)``: how often walks from ``pins[row]`` reached pin ``visited``, in
    order of row, then visited pin; with ``top_k``, only each row's ``top_k`` most visited pins,
    the most visited first and the lower pin first on a tie.

    Each of the ``walks`` walks per pin takes pin -> random board -> random pin hops; after each
    hop it ends (the next walk restarts from the pin) with ``restart_prob``, and it ends after ``walk_length``
    hops at most (``walk_length`` >= 1). The start pin itself is not counted. Visits are counted
    ``PINS_PER_COUNT`` start pins at a time.
    """
    pins, hops = _walk(graph, pins, walks, walk_length, restart_prob, rng)
    n_pins = graph.num_nodes(PIN)
    parts = []
    for first in range(0, len(pins), PINS_PER_COUNT):
        counted = _counted(hops, pins, n_pins, first, first + PINS_PER_COUNT)
        parts.append(counted if top_k is None else _most_visited(*counted, top_k))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    row, visited, count = (np.concatenate(column) for column in zip(*parts))
    return row, visited, count


def importance_neighbours(
    graph: dgl.DGLGraph,
    *,
    top_k: int,
    walks: int,
    walk_length: int,
    restart_prob: float,
    seed: int,
) -> dgl.DGLGraph:
    """A pin-pin graph over ``graph``'s pins with an edge ``v -> u`` for each of u's ``top_k``
    most visited pins v (``visit_counts``; ties go to the lower pin index) and
    ``edata['weight']``: v's visit count over the sum of u's kept counts.

    A pin whose walks reach no other pin has no in-edges.
    """
    n_pins = graph.num_nodes(PIN)
    row, visited, count = visit_counts(
        graph,
        np.arange(n_pins),
        walks=walks,
        walk_length=walk_length,
        restart_prob=restart_prob,
        rng=np.random.default_rng(seed),
        top_k=top_k,
    )
    count = count.astype(np.float64)
    weight = count / np.bincount(row, weights=count, minlength=n_pins)[row]
    neighbours = dgl.graph((torch.from_numpy(visited), torch.from_numpy(row)), num_nodes=n_pins)
    neighbours.edata["weight"] = torch.from_numpy(weight.astype(np.float32))
    return neighbours


Hops = list[tuple[np.ndarray, np.ndarray]]


def _walk(
    graph: dgl.DGLGraph, pins: np.ndarray, walks: int, walk_length: int, restart_prob: float, rng: np.random.Generator
) -> tuple[np.ndarray, Hops]:
    """The walks of ``visit_counts``: the start pins and, per hop, the (start row, pin reached) of
    every walker that took it, rows in order. Indices are 32-bit where they fit, and the draws are
    taken ``DRAWS_AT_ONCE`` at a time (the generator gives the same numbers drawn in parts as at
    once), so no temporary is larger than a part."""
    if walk_length < 1:
        raise ValueError(f"walk_length must be at least 1, got {walk_length}")
    pin_indptr, pin_boards = csr(graph, SAVED_TO)
    board_indptr, board_pins = csr(graph, HOLDS)
    index = np.int32 if max(graph.num_nodes(PIN), graph.num_nodes(BOARD), len(pins)) < 2**31 else np.int64
    pins = np.asarray(pins).astype(index)
    row = np.repeat(np.arange(len(pins), dtype=index), walks)
    current = np.repeat(pins, walks)
    pin_degree = np.diff(pin_indptr)
    hops = []
    for _ in range(walk_length):
        on_a_board = pin_degree[current] > 0
        row, current = row[on_a_board], current[on_a_board]
        board = _random_neighbours(pin_indptr, pin_boards, current, rng, index)
        current = _random_neighbours(board_indptr, board_pins, board, rng, index)
        hops.append((row, current))
        going_on = _draws_at_least(rng, len(current), restart_prob)
        row, current = row[going_on], current[going_on]
    return pins, hops


def _counted(
    hops: Hops, pins: np.ndarray, n_pins: int, first: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``visit_counts`` of the walks from ``pins[first:end]``."""
    bounds = [np.searchsorted(row, [first, end]) for row, _ in hops]
    rows = np.concatenate([row[a:b] for (row, _), (a, b) in zip(hops, bounds)])
    visited = np.concatenate([pin[a:b] for (_, pin), (a, b) in zip(hops, bounds)])
    away = visited != pins[rows]
    keys, count = np.unique(rows[away].astype(np.int64) * n_pins + visited[away], return_counts=True)
    return keys // n_pins, keys % n_pins, count


def _most_visited(
    row: np.ndarray, visited: np.ndarray, count: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of counted rows, each row's ``top_k`` most visited pins, the lower pin first on a tie."""
    most = count.max(initial=0)
    # One int64 key orders by row, then count descending, then pin: a single sort, not a lexsort.
    order = np.argsort((row * (most + 1) + most - count) * (visited.max(initial=0) + 1) + visited)
    row, visited, count = row[order], visited[order], count[order]
    first = np.searchsorted(row, row)  # rows are sorted: the first index of each row's run
    keep = np.arange(len(row)) - first < top_k
    return row[keep], visited[keep], count[keep]


def _random_neighbours(
    indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray, rng: np.random.Generator, dtype: type
) -> np.ndarray:
    """One uniformly drawn neighbour of each of ``nodes`` (each has one) in the CSR ``(indptr,
    indices)``, from one ``rng.random()`` per node in order."""
    out = np.empty(len(nodes), dtype=dtype)
    for start in range(0, len(nodes), DRAWS_AT_ONCE):
        part = nodes[start : start + DRAWS_AT_ONCE]
        first = indptr[part]
        degree = indptr[part + 1] - first
        out[start : start + len(part)] = indices[first + (rng.random(len(part)) * degree).astype(np.int64)]
    return out


def _draws_at_least(rng: np.random.Generator, n: int, threshold: float) -> np.ndarray:
    """``rng.random(n) >= threshold``, drawn ``DRAWS_AT_ONCE`` at a time."""
    out = np.empty(n, dtype=bool)
    for start in range(0, n, DRAWS_AT_ONCE):
        out[start : start + DRAWS_AT_ONCE] = rng.random(min(DRAWS_AT_ONCE, n - start)) >= threshold
    return out


def neighbourhood_blocks(
    neighbours: dgl.DGLGraph, seeds: torch.Tensor, layers: int
) -> list[dgl.DGLGraph]:
    """The message-flow blocks that compute ``seeds``' outputs after ``layers`` aggregations,
    input side first; each block's source nodes start with its destination nodes and its
    edges carry ``weight``. ``blocks[0].srcdata[dgl.NID]`` are the pins whose features are read.
    """
    blocks: list[dgl.DGLGraph] = []
    destination = seeds
    for _ in range(layers):
        block = dgl.to_block(dgl.in_subgraph(neighbours, destination), destination)
        blocks.insert(0, block)
        destination = block.srcdata[dgl.NID]
    return blocks
