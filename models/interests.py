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


def impression_interests(
    engagements: pd.DataFrame, impressions: pd.DataFrame, user_ids: np.ndarray, pins: pd.DataFrame
) -> np.ndarray:
    """Per impression, its user's interest in its pin's category, from the user's latest
    ``LATEST_ENGAGEMENTS`` of ``engagements`` (user_id, pin_id, ts).

    ``user_ids`` is sorted and holds every user named; ``pins`` (pin_id, category) is sorted by
    pin_id and holds every pin named."""
    vocabulary = np.unique(pins["category"].to_numpy(dtype=str))
    pin_codes = category_codes(pins["category"].to_numpy(dtype=str), vocabulary)
    latest = engagements.sort_values("ts").groupby("user_id").tail(LATEST_ENGAGEMENTS)
    pin_ids = pins["pin_id"].to_numpy()
    interests = interest_vectors(
        np.searchsorted(user_ids, latest["user_id"].to_numpy()),
        pin_codes[np.searchsorted(pin_ids, latest["pin_id"].to_numpy())],
        len(user_ids),
        len(vocabulary),
    )
    rows = np.searchsorted(user_ids, impressions["user_id"].to_numpy())
    return interests[rows, pin_codes[np.searchsorted(pin_ids, impressions["pin_id"].to_numpy())]]


def recency_weighted_mean(vectors: np.ndarray, decay: float) -> np.ndarray:
    """The mean of a user's engaged pins' ``vectors`` (``[n, d]``, oldest first), the latest
    weighted 1 and each earlier one ``decay`` times its successor; zeros for no pins."""
    if len(vectors) == 0:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    weights = decay ** np.arange(len(vectors) - 1, -1, -1)
    return (weights @ vectors / weights.sum()).astype(np.float32)
