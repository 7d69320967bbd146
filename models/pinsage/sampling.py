"""Importance-based neighbourhoods (PinSAGE section 3.2): a pin's neighbours are the pins that
short random walks from it visit most, weighted by their normalized visit counts.

Walks run in numpy with a seeded generator, so a neighbourhood is reproducible for a given
graph and seed and DGL's global random state is left alone.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch

from models.pinsage.graph import HOLDS, PIN, SAVED_TO, csr


def visit_counts(
    graph: dgl.DGLGraph,
    pins: np.ndarray,
    *,
    walks: int,
    walk_length: int,
    restart_prob: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, visited, count)``: how often walks from ``pins[row]`` reached pin ``visited``.

    Each of the ``walks`` walks per pin takes pin -> random board -> random pin hops; after each
    hop it ends (the next walk restarts from the pin) with ``restart_prob``, and it ends after ``walk_length``
    hops at most (``walk_length`` >= 1). The start pin itself is not counted.
    """
    if walk_length < 1:
        raise ValueError(f"walk_length must be at least 1, got {walk_length}")
    pin_indptr, pin_boards = csr(graph, SAVED_TO)
    board_indptr, board_pins = csr(graph, HOLDS)
    row = np.repeat(np.arange(len(pins), dtype=np.int64), walks)
    current = np.repeat(np.asarray(pins, dtype=np.int64), walks)
    rows, visits = [], []
    for _ in range(walk_length):
        degree = pin_indptr[current + 1] - pin_indptr[current]
        row, current, degree = row[degree > 0], current[degree > 0], degree[degree > 0]
        board = pin_boards[pin_indptr[current] + (rng.random(len(current)) * degree).astype(np.int64)]
        size = board_indptr[board + 1] - board_indptr[board]
        current = board_pins[board_indptr[board] + (rng.random(len(board)) * size).astype(np.int64)]
        rows.append(row)
        visits.append(current)
        going_on = rng.random(len(current)) >= restart_prob
        row, current = row[going_on], current[going_on]
    all_rows, visited = np.concatenate(rows), np.concatenate(visits)
    away = visited != np.asarray(pins, dtype=np.int64)[all_rows]
    n_pins = graph.num_nodes(PIN)
    keys, count = np.unique(all_rows[away] * n_pins + visited[away], return_counts=True)
    return keys // n_pins, keys % n_pins, count


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
    rng = np.random.default_rng(seed)
    row, visited, count = visit_counts(
        graph,
        np.arange(n_pins),
        walks=walks,
        walk_length=walk_length,
        restart_prob=restart_prob,
        rng=rng,
    )
    # One int64 key orders by row, then count descending, then pin: a single sort, not a lexsort.
    order = np.argsort((row * (count.max(initial=0) + 1) + count.max(initial=0) - count) * n_pins + visited)
    row, visited, count = row[order], visited[order], count[order]
    first = np.searchsorted(row, row)  # rows are sorted: the first index of each row's run
    keep = np.arange(len(row)) - first < top_k
    row, visited, count = row[keep], visited[keep], count[keep].astype(np.float64)
    weight = count / np.bincount(row, weights=count, minlength=n_pins)[row]
    neighbours = dgl.graph((torch.from_numpy(visited), torch.from_numpy(row)), num_nodes=n_pins)
    neighbours.edata["weight"] = torch.from_numpy(weight.astype(np.float32))
    return neighbours


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
