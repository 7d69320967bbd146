"""The ranker's learned-embedding features: per (user, pin) and learned kind (PinSAGE, text,
visual), the cosine of the recency-weighted mean of the vectors of the user's latest
``LATEST_ENGAGEMENTS`` engaged pins and the pin's vector of the same kind.

Training builds each impression's user side from its user's engagements before that impression,
as serving builds it from the request's history (``service/scoring.py``); only the pin vectors are
fixed before the window (``models.ranker_representations``). The two-tower's cosine (its user vector against the pin
tower's) was measured too and left out: on demo it raised no head's validation AUC beside these
three (docs/design.md, "Ranker training data").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.interests import LATEST_ENGAGEMENTS, latest_engagement_before, recency_weighted_mean
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


def history_vectors_before(
    engagements: pd.DataFrame, tables: Mapping[str, VectorTable], rows: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Per kind of ``tables``, ``[len(rows), dim]``: per row (user_id, ts), ``history_vector`` of its
    user's ``engagements`` (user_id, pin_id, ts) strictly before its ``ts``: what serving would have
    built for a request at that moment; zeros for a user without any by then."""
    ordered = engagements.sort_values(["user_id", "ts"], kind="stable", ignore_index=True)
    users = ordered["user_id"].to_numpy()
    latest = latest_engagement_before(ordered, rows)
    # Only the running means at some row's latest engagement are kept: slot[position] is its row in `means`.
    kept = np.unique(latest[latest >= 0])
    slot = np.full(len(ordered), -1, dtype=np.int64)
    slot[kept] = np.arange(len(kept))
    # Every kind's vectors side by side (float32; the sums run in float64), so that one pass over
    # the engagements serves them all; one row per distinct engaged pin, not per engagement.
    pins, pin_of_row = np.unique(ordered["pin_id"].to_numpy(), return_inverse=True)
    kinds = [table.of(pins) for table in tables.values()]
    vectors = np.hstack(kinds) if kinds else np.zeros((len(pins), 0), dtype=np.float32)
    del kinds
    # Running recency-weighted sums per user: each step decays the last and adds the new pin; the
    # pin that falls out of the latest LATEST_ENGAGEMENTS leaves with the weight it had reached.
    # Each kept sum is divided by its weights' total as it is reached, and only the mean is stored.
    dropped = HISTORY_DECAY**LATEST_ENGAGEMENTS
    means = np.zeros((len(kept), vectors.shape[1]), dtype=np.float32)
    running, total, first = np.zeros(vectors.shape[1]), 0.0, 0
    slots, pin_rows = slot.tolist(), pin_of_row.tolist()
    for row in range(len(ordered)):
        if row == 0 or users[row] != users[row - 1]:
            running, total, first = np.zeros(vectors.shape[1]), 0.0, row
        running, total = HISTORY_DECAY * running + vectors[pin_rows[row]], HISTORY_DECAY * total + 1.0
        if row - first >= LATEST_ENGAGEMENTS:
            leaving = vectors[pin_rows[row - LATEST_ENGAGEMENTS]].astype(np.float64)
            running, total = running - dropped * leaving, total - dropped
        if slots[row] >= 0:
            means[slots[row]] = running / max(total, 1e-12)
    del vectors
    out = np.zeros((len(rows), means.shape[1]), dtype=np.float32)
    found = latest >= 0
    out[found] = means[slot[latest[found]]]
    columns = np.cumsum([0, *(table.vectors.shape[1] for table in tables.values())])
    return {name: out[:, columns[at] : columns[at + 1]] for at, name in enumerate(tables)}


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


def impression_similarities(
    names: Sequence[str],
    impressions: pd.DataFrame,
    engagements: pd.DataFrame,
    pin_tables: Mapping[str, VectorTable],
) -> np.ndarray:
    """``similarity_columns`` of each impression (user_id, pin_id, event_timestamp): per kind of
    ``pin_tables``, the user side from its user's ``engagements`` before the impression
    (``history_vectors_before``) against the pin's vector."""
    rows = impressions.rename(columns={"event_timestamp": "ts"})
    users = history_vectors_before(engagements, pin_tables, rows)
    pins = {name: table.of(impressions["pin_id"].to_numpy()) for name, table in pin_tables.items()}
    return similarity_columns(names, users, pins, len(impressions))
