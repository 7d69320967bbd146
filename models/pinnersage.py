"""PinnerSage: a user as several interest medoids instead of one vector.

Ward clustering of the user's engaged-pin vectors; each cluster is represented by its medoid
(a real pin, not a mean) and weighted by the recency-decayed count of its engagements.
Retrieval is the union of each medoid's nearest pins. The home feed searches from each user's
``SERVED_MEDOIDS`` most important medoids; ``users_medoids`` computes them offline for every user,
and ``OfflineMedoids.of`` serves them while the user's engagements are the ones they came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from models.engagements import Engagements, times_us


SERVED_MEDOIDS = 3  # medoids a home feed searches from, most important first


@dataclass(frozen=True)
class PinnerSageConfig:
    distance_threshold: float = 1.0  # Ward merge cost on unit vectors above which clusters stay apart
    max_clusters: int = 20
    half_life_days: float = 14.0


@dataclass(frozen=True)
class Medoids:
    """Indices into the input engagements of each cluster's medoid, most important first."""

    rows: np.ndarray
    importance: np.ndarray


def pinnersage_medoids(vectors: np.ndarray, ages_days: np.ndarray, config: PinnerSageConfig = PinnerSageConfig()) -> Medoids:
    """Cluster the engaged-pin ``vectors`` (one row per engagement) and pick a medoid per cluster.

    Rows with a zero vector (pins without an embedding) are ignored.
    """
    ages = np.asarray(ages_days, dtype=np.float64)
    if len(vectors) != len(ages):
        raise ValueError(f"{len(vectors)} vectors but {len(ages)} ages")
    usable = np.flatnonzero(np.any(vectors != 0, axis=1))
    if len(usable) == 0:
        return Medoids(np.empty(0, dtype=np.int64), np.empty(0))
    if len(usable) == 1:
        return Medoids(usable.astype(np.int64), np.array([0.5 ** (ages[usable[0]] / config.half_life_days)]))
    points = vectors[usable].astype(np.float64)
    labels = fcluster(linkage(points, method="ward"), t=config.distance_threshold, criterion="distance")
    decay = 0.5 ** (ages[usable] / config.half_life_days)
    # Each point's summed distance to the members of its own cluster; a cluster's medoid is its
    # member with the least (the first such member on a tie). Labels run 1..clusters.
    distances = squareform(pdist(points))
    within = np.where(labels[:, None] == labels[None, :], distances, 0.0).sum(axis=1)
    by_cluster = np.lexsort((within, labels))
    first_of_cluster = np.flatnonzero(np.r_[True, np.diff(labels[by_cluster]) != 0])
    rows = usable[by_cluster[first_of_cluster]]
    importance = np.bincount(labels, weights=decay)[labels[by_cluster[first_of_cluster]]]
    order = np.argsort(-importance, kind="stable")[: config.max_clusters]
    return Medoids(rows.astype(np.int64)[order], importance[order])


def medoid_pins(engagements: Engagements, vectors: np.ndarray, *, keep: int = SERVED_MEDOIDS) -> np.ndarray:
    """Pin ids of the ``keep`` most important medoids of one user's ``engagements``, with the
    engaged pins' ``vectors``."""
    if len(engagements) == 0:
        return np.empty(0, dtype=np.int64)
    return engagements.pin_ids[pinnersage_medoids(vectors, engagements.ages_days()).rows[:keep]]


@dataclass(frozen=True)
class OfflineMedoids:
    """Each user's served medoids computed offline, with the newest engagement time and the number
    of engagements they were computed from; -1 pads a user with fewer medoids."""

    user_ids: np.ndarray  # sorted
    newest_us: np.ndarray  # microseconds since the epoch
    engagements: np.ndarray
    pin_ids: np.ndarray  # [users, SERVED_MEDOIDS]

    def of(self, user_id: int, *, newest_us: int, engagements: int) -> np.ndarray | None:
        """The user's medoid pin ids, or None when the user has none stored or their latest
        engagements (newest time, count) are no longer the ones the medoids came from."""
        row = int(np.searchsorted(self.user_ids, user_id))
        if row == len(self.user_ids) or self.user_ids[row] != user_id:
            return None
        if self.newest_us[row] != newest_us or self.engagements[row] != engagements:
            return None
        pins = self.pin_ids[row]
        return pins[pins >= 0]


def users_medoids(
    engagements: pd.DataFrame, pin_vectors_for: Callable[[np.ndarray], np.ndarray], *, latest: int
) -> OfflineMedoids:
    """The served medoids of every user in ``engagements`` (user_id, pin_id, action, ts), each from their
    ``latest`` engagements newest first (those at one time in the frame's order), as a request computes them."""
    ts_us = times_us(engagements["ts"])
    order = np.lexsort((-ts_us, engagements["user_id"].to_numpy()))
    users = engagements["user_id"].to_numpy(dtype=np.int64)[order]
    pins, times = engagements["pin_id"].to_numpy(dtype=np.int64)[order], ts_us[order]
    actions = engagements["action"].to_numpy(dtype=str)[order]
    user_ids, starts, counts = np.unique(users, return_index=True, return_counts=True)
    counts = np.minimum(counts, latest)
    medoids = np.full((len(user_ids), SERVED_MEDOIDS), -1, dtype=np.int64)
    for row, (start, count) in enumerate(zip(starts, counts, strict=True)):
        mine = slice(start, start + count)
        found = medoid_pins(Engagements(pins[mine], actions[mine], times[mine]), pin_vectors_for(pins[mine]))
        medoids[row, : len(found)] = found
    return OfflineMedoids(user_ids, times[starts], counts.astype(np.int64), medoids)
