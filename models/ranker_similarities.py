"""The ranker's learned-embedding features: per (user, pin) and learned kind (PinSAGE, text,
visual), the cosine of the recency-weighted mean of the vectors of the user's latest
``LATEST_ENGAGEMENTS`` engaged pins and the pin's vector of the same kind.

Training builds the user side from the engagements before its window only; serving from the
request's history (``service/scoring.py``). The two-tower's cosine (its user vector against the pin
tower's) was measured too and left out: on demo it raised no head's validation AUC beside these
three (docs/design.md, "Ranker training data").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.interests import LATEST_ENGAGEMENTS, recency_weighted_mean
from models.pinsage.config import PinSageConfig

# A user as PinSAGE makes one of their history: each older pin half the weight of the next (chosen on validation).
HISTORY_DECAY = PinSageConfig().history_decay


@dataclass(frozen=True)
class VectorTable:
    """Vectors of one learned kind by pin or user id (``ids`` distinct, in any order)."""

    ids: np.ndarray
    vectors: np.ndarray

    def of(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of ``ids`` in that order; zeros for an id the table lacks."""
        rows = pd.Index(self.ids).get_indexer(np.asarray(ids, dtype=np.int64))
        out = np.zeros((len(rows), self.vectors.shape[1]), dtype=np.float32)
        out[rows >= 0] = self.vectors[rows[rows >= 0]]
        return out


def history_vector(engaged_pin_vectors: np.ndarray) -> np.ndarray:
    """The user side of a similarity: the recency-weighted mean of the vectors of the user's
    engaged pins, oldest first (only the latest ``LATEST_ENGAGEMENTS`` count)."""
    return recency_weighted_mean(engaged_pin_vectors[-LATEST_ENGAGEMENTS:], HISTORY_DECAY)


def history_vectors(engagements: pd.DataFrame, table: VectorTable, user_ids: np.ndarray) -> np.ndarray:
    """``[len(user_ids), dim]``: ``history_vector`` of each user's ``engagements`` (user_id, pin_id,
    ts); zeros for a user without any. ``user_ids`` is sorted and holds every user named."""
    latest = engagements.sort_values(["user_id", "ts"], kind="stable").groupby("user_id").tail(LATEST_ENGAGEMENTS)
    users = np.searchsorted(user_ids, latest["user_id"].to_numpy())
    # Weight decay^k for the k-th latest engagement of its user.
    newer = latest.groupby("user_id").cumcount(ascending=False).to_numpy()
    weights = HISTORY_DECAY ** newer.astype(np.float64)
    sums = np.zeros((len(user_ids), table.vectors.shape[1]))
    np.add.at(sums, users, weights[:, None] * table.of(latest["pin_id"].to_numpy()))
    totals = np.bincount(users, weights=weights, minlength=len(user_ids))
    return (sums / np.maximum(totals, 1e-12)[:, None]).astype(np.float32)


def cosines(user_vectors: np.ndarray, pin_vectors: np.ndarray) -> np.ndarray:
    """Row-wise cosine ``[n]`` of user vectors (``[n, d]``, or one row broadcast) and pin vectors;
    0 where either is zero."""
    users, pins = np.atleast_2d(user_vectors), np.atleast_2d(pin_vectors)
    norms = np.linalg.norm(users, axis=1) * np.linalg.norm(pins, axis=1)
    return ((users * pins).sum(axis=1) / np.maximum(norms, 1e-12)).astype(np.float32)


def similarity_columns(
    names: Sequence[str], user_vectors: Mapping[str, np.ndarray], pin_vectors: Mapping[str, np.ndarray], rows: int
) -> np.ndarray:
    """``[rows, len(names)]`` float32: per named kind, ``cosines`` of its user and pin vectors; a
    kind missing from either mapping gives zeros (its model is not served)."""
    columns = np.zeros((rows, len(names)), dtype=np.float32)
    for column, name in enumerate(names):
        if name in user_vectors and name in pin_vectors:
            columns[:, column] = cosines(user_vectors[name], pin_vectors[name])
    return columns


def history_tables(
    engagements: pd.DataFrame, pin_tables: Mapping[str, VectorTable], user_ids: np.ndarray
) -> dict[str, VectorTable]:
    """The user side of every kind of ``pin_tables``: each user's ``history_vector`` of their
    ``engagements`` (see ``history_vectors``)."""
    return {
        name: VectorTable(user_ids, history_vectors(engagements, table, user_ids)) for name, table in pin_tables.items()
    }


def impression_similarities(
    names: Sequence[str],
    impressions: pd.DataFrame,
    user_tables: Mapping[str, VectorTable],
    pin_tables: Mapping[str, VectorTable],
) -> np.ndarray:
    """``similarity_columns`` of each impression's (user_id, pin_id) from per-kind vector tables."""
    users = {name: table.of(impressions["user_id"].to_numpy()) for name, table in user_tables.items()}
    pins = {name: table.of(impressions["pin_id"].to_numpy()) for name, table in pin_tables.items()}
    return similarity_columns(names, users, pins, len(impressions))
