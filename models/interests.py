"""A user's interests from their latest engagements: their share of engagement per pin category,
smoothed toward uniform, and the recency-weighted mean of their engaged pins' vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd

LATEST_ENGAGEMENTS = 50  # how many of a user's latest engagements make their interests, offline and online
PRIOR_ENGAGEMENTS = 2.0  # a new user looks uniform; two engagements already tilt the vector


def interest_vectors(user_index: np.ndarray, category_index: np.ndarray, n_users: int, n_categories: int) -> np.ndarray:
    """``[n_users, n_categories]``: (engagements in c + prior / C) / (engagements + prior) per user.

    Each (user_index[i], category_index[i]) pair is one engagement; negative indices are ignored.
    """
    known = (user_index >= 0) & (category_index >= 0)
    counts = np.zeros((n_users, n_categories), dtype=np.float64)
    np.add.at(counts, (user_index[known], category_index[known]), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return ((counts + PRIOR_ENGAGEMENTS / n_categories) / (totals + PRIOR_ENGAGEMENTS)).astype(np.float32)


def category_codes(categories: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Index of each category in the sorted ``vocabulary``; -1 for categories not in it."""
    codes = np.searchsorted(vocabulary, categories).clip(0, max(len(vocabulary) - 1, 0))
    return np.where(vocabulary[codes] == categories, codes, -1) if len(vocabulary) else np.full(len(categories), -1)


def impression_interests(engagements: pd.DataFrame, impressions: pd.DataFrame, pins: pd.DataFrame) -> np.ndarray:
    """Per impression (user_id, pin_id, event_timestamp), its user's interest in its pin's category
    from the user's latest ``LATEST_ENGAGEMENTS`` of ``engagements`` (user_id, pin_id, ts) strictly
    before it: what serving computes from the request's history at that moment.

    ``pins`` (pin_id, category) is sorted by pin_id and holds every pin named."""
    vocabulary = np.unique(pins["category"].to_numpy(dtype=str))
    pin_codes = category_codes(pins["category"].to_numpy(dtype=str), vocabulary)
    pin_ids = pins["pin_id"].to_numpy()
    ordered = engagements.sort_values(["user_id", "ts"], kind="stable", ignore_index=True)
    codes = pin_codes[np.searchsorted(pin_ids, ordered["pin_id"].to_numpy())]
    # in_category[i, c]: engagements in category c among the first i of ``ordered``.
    in_category = np.zeros((len(ordered) + 1, len(vocabulary)), dtype=np.int32)
    known = np.flatnonzero(codes >= 0)
    in_category[known + 1, codes[known]] = 1
    in_category = in_category.cumsum(axis=0, dtype=np.int32)
    latest = latest_engagement_before(ordered, impressions.rename(columns={"event_timestamp": "ts"}))
    users = ordered["user_id"].to_numpy()
    user_start = np.searchsorted(users, users[latest.clip(0)]) if len(users) else np.zeros(len(latest), np.int64)
    end = np.where(latest >= 0, latest + 1, 0)
    start = np.where(latest >= 0, np.maximum(user_start, end - LATEST_ENGAGEMENTS), 0)
    category = pin_codes[np.searchsorted(pin_ids, impressions["pin_id"].to_numpy())]
    engaged = (in_category[end, category] - in_category[start, category]).astype(np.float64)
    total = (in_category[end].sum(axis=1) - in_category[start].sum(axis=1)).astype(np.float64)
    return ((engaged + PRIOR_ENGAGEMENTS / len(vocabulary)) / (total + PRIOR_ENGAGEMENTS)).astype(np.float32)


def latest_engagement_before(ordered: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Per row (user_id, ts) of ``rows``, the position in ``ordered`` (engagements sorted by user_id,
    then ts) of its user's last engagement strictly before its ``ts``; -1 where there is none."""
    left = pd.DataFrame(
        {"user_id": rows["user_id"].to_numpy(), "ts": rows["ts"].to_numpy(), "row": np.arange(len(rows))}
    )
    right = pd.DataFrame(
        {"user_id": ordered["user_id"].to_numpy(), "ts": ordered["ts"].to_numpy(), "position": np.arange(len(ordered))}
    )
    matched = pd.merge_asof(
        left.sort_values("ts", kind="stable"), right.sort_values("ts", kind="stable"),
        on="ts", by="user_id", allow_exact_matches=False, direction="backward",
    )
    latest = np.full(len(rows), -1, dtype=np.int64)
    latest[matched["row"].to_numpy()] = matched["position"].fillna(-1).to_numpy(dtype=np.int64)
    return latest


def recency_weighted_mean(vectors: np.ndarray, decay: float) -> np.ndarray:
    """The mean of a user's engaged pins' ``vectors`` (``[n, d]``, oldest first), the latest
    weighted 1 and each earlier one ``decay`` times its successor; zeros for no pins."""
    if len(vectors) == 0:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    weights = decay ** np.arange(len(vectors) - 1, -1, -1)
    return (weights @ vectors / weights.sum()).astype(np.float32)
