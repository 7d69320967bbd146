"""A first pin embedding: factorize the user x pin co-engagement matrix, plus its two baselines.

The matrix weights each engagement by how strong a signal it is (a save says more than a click),
damps heavy users and popular pins (BM25-like), and is factorized with a truncated SVD. Pins that
users engage with together end up close; ``item_neighbours`` and ``popular_pins`` are the simple
baselines the learned models must beat (DESIGN.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import svds

from models.embedding_width import EMBEDDING_DIM

ACTION_WEIGHTS = {"click": 1.0, "long_click": 2.0, "save": 3.0, "hide": -1.0}


@dataclass(frozen=True)
class CoEngagementConfig:
    dim: int = EMBEDDING_DIM  # the served width: its vectors go into pgvector
    neighbours: int = 50
    seed: int = 0


@dataclass(frozen=True)
class CoEngagementModel:
    """Row-aligned ids and unit-length vectors for users and pins."""

    pin_ids: np.ndarray
    pin_vectors: np.ndarray
    user_ids: np.ndarray
    user_vectors: np.ndarray

    def pin_rows(self, pin_ids: np.ndarray) -> np.ndarray:
        """Row of each pin id in ``pin_ids`` (sorted), -1 for unknown pins."""
        return _rows(self.pin_ids, pin_ids)

    def pin_vectors_for(self, pin_ids: np.ndarray) -> np.ndarray:
        """Vectors of ``pin_ids``; unknown pins get zero vectors."""
        return _gather(self.pin_vectors, self.pin_rows(pin_ids))

    def user_vectors_for(self, user_ids: np.ndarray) -> np.ndarray:
        """Vectors of ``user_ids``; unknown users get zero vectors."""
        return _gather(self.user_vectors, _rows(self.user_ids, user_ids))

    def engaged_pins(self) -> np.ndarray:
        """Boolean mask of the pins with a direction: a pin nobody engaged with has a zero vector."""
        return np.any(self.pin_vectors != 0, axis=1)


def _rows(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    rows = np.searchsorted(sorted_ids, ids).clip(0, len(sorted_ids) - 1)
    return np.where(sorted_ids[rows] == ids, rows, -1)


def _gather(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = vectors[rows.clip(0)]
    out[rows < 0] = 0.0
    return out


def engagement_matrix(
    user_index: np.ndarray, pin_index: np.ndarray, actions: np.ndarray, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """Sparse users x pins matrix of summed positive action weights (hides and impressions drop)."""
    weights = np.array([ACTION_WEIGHTS.get(a, 0.0) for a in actions.tolist()], dtype=np.float32)
    keep = weights > 0
    matrix = sparse.coo_matrix(
        (weights[keep], (user_index[keep], pin_index[keep])), shape=shape, dtype=np.float32
    ).tocsr()
    matrix.sum_duplicates()
    return matrix


def _damped(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """log-scaled weights times pin IDF, so popular pins and heavy users do not dominate."""
    damped = matrix.copy()
    damped.data = np.log1p(damped.data)
    users_per_pin = np.diff(damped.tocsc().indptr).astype(np.float32)
    idf = np.log((1.0 + damped.shape[0]) / (1.0 + users_per_pin))
    return (damped @ sparse.diags(idf.astype(np.float32))).tocsr()


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def factorize(
    matrix: sparse.csr_matrix, user_ids: np.ndarray, pin_ids: np.ndarray, config: CoEngagementConfig
) -> CoEngagementModel:
    """Truncated SVD of the damped matrix; pins with no engagement get a zero vector."""
    rank = min(config.dim, min(matrix.shape) - 1)
    rng = np.random.default_rng(config.seed)
    start = rng.standard_normal(min(matrix.shape)).astype(np.float32)
    u, s, vt = svds(_damped(matrix).astype(np.float64), k=rank, v0=start)
    scale = np.sqrt(s)
    pin_vectors = np.zeros((matrix.shape[1], config.dim), dtype=np.float32)
    user_vectors = np.zeros((matrix.shape[0], config.dim), dtype=np.float32)
    pin_vectors[:, :rank] = vt.T * scale
    user_vectors[:, :rank] = u * scale
    return CoEngagementModel(pin_ids, _unit_rows(pin_vectors), user_ids, _unit_rows(user_vectors))


def fit_co_engagement(
    events: pd.DataFrame, user_ids: np.ndarray, pin_ids: np.ndarray, config: CoEngagementConfig
) -> tuple[CoEngagementModel, sparse.csr_matrix]:
    """Factorize the engagement of ``events`` (user_id, pin_id, action) over sorted id arrays."""
    matrix = engagement_matrix(
        np.searchsorted(user_ids, events["user_id"].to_numpy()),
        np.searchsorted(pin_ids, events["pin_id"].to_numpy()),
        events["action"].to_numpy(),
        shape=(len(user_ids), len(pin_ids)),
    )
    return factorize(matrix, user_ids, pin_ids, config), matrix


def item_neighbours(matrix: sparse.csr_matrix, k: int) -> np.ndarray:
    """Top-``k`` co-engaged pins per pin (item co-occurrence baseline); -1 pads short rows."""
    binary = (matrix > 0).astype(np.float32)
    cooccurrence = (binary.T @ binary).tocsr()
    cooccurrence.setdiag(0)
    cooccurrence.eliminate_zeros()
    neighbours = np.full((matrix.shape[1], k), -1, dtype=np.int64)
    for row in range(cooccurrence.shape[0]):
        start, end = cooccurrence.indptr[row], cooccurrence.indptr[row + 1]
        if start == end:
            continue
        counts = cooccurrence.data[start:end]
        top = np.argsort(-counts, kind="stable")[:k]
        neighbours[row, : len(top)] = cooccurrence.indices[start:end][top]
    return neighbours


def popular_pins(matrix: sparse.csr_matrix, k: int) -> np.ndarray:
    """Column indices of the ``k`` pins with the most engaged users (popularity baseline)."""
    users_per_pin = np.diff(matrix.tocsc().indptr)
    return np.argsort(-users_per_pin, kind="stable")[:k]
