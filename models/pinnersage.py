"""PinnerSage: a user as several interest medoids instead of one vector.

Ward clustering of the user's engaged-pin vectors; each cluster is represented by its medoid
(a real pin, not a mean) and weighted by the recency-decayed count of its engagements.
Retrieval is the union of each medoid's nearest pins. The home feed searches from each user's
``SERVED_MEDOIDS`` most important medoids; ``users_medoids`` computes them offline for every user,
and ``OfflineMedoids.of`` serves them while the user's engagements are the ones they came from,
with each medoid's ``MEDOID_CANDIDATES`` nearest pins found at the same time (``candidates_of``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from models.engagements import Engagements, times_us


SERVED_MEDOIDS = 3  # medoids a home feed searches from, most important first
MEDOID_CANDIDATES = 50  # nearest pins a home feed takes of each medoid


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
    of engagements they were computed from; -1 pads a user with fewer medoids or candidates."""

    user_ids: np.ndarray  # sorted
    newest_us: np.ndarray  # microseconds since the epoch
    engagements: np.ndarray
    pin_ids: np.ndarray  # [users, SERVED_MEDOIDS]
    # [users, SERVED_MEDOIDS * MEDOID_CANDIDATES]: each medoid's nearest pins, medoid by medoid; all
    # -1 for a user whose were not found with the medoids
    candidate_pin_ids: np.ndarray

    def of(self, user_id: int, *, newest_us: int, engagements: int) -> np.ndarray | None:
        """The user's medoid pin ids, or None when the user has none stored or their latest
        engagements (newest time, count) are no longer the ones the medoids came from."""
        row = self._row(user_id, newest_us=newest_us, engagements=engagements)
        return None if row is None else _present(self.pin_ids[row])

    def candidates_of(self, user_id: int, *, newest_us: int, engagements: int) -> np.ndarray | None:
        """The nearest pins of the user's medoids, found with them, or None where ``of`` gives None
        or none were found."""
        row = self._row(user_id, newest_us=newest_us, engagements=engagements)
        found = None if row is None else _present(self.candidate_pin_ids[row])
        return found if found is not None and len(found) else None

    def _row(self, user_id: int, *, newest_us: int, engagements: int) -> int | None:
        row = int(np.searchsorted(self.user_ids, user_id))
        if row == len(self.user_ids) or self.user_ids[row] != user_id:
            return None
        if self.newest_us[row] != newest_us or self.engagements[row] != engagements:
            return None
        return row


def _present(padded: np.ndarray) -> np.ndarray:
    return padded[padded >= 0]


def medoid_candidates(
    medoids: OfflineMedoids, nearest: Callable[[np.ndarray, int], np.ndarray], engaged: Callable[[int], np.ndarray]
) -> OfflineMedoids:
    """``medoids`` with each medoid's ``MEDOID_CANDIDATES`` nearest pins: ``nearest(medoid pin ids,
    k)`` gives ``[medoids, k]`` pin ids (-1 pads), asked for enough to spare the user's ``engaged``
    pins (never shown to them again), which are left out."""
    spare = max((len(engaged(int(user))) for user in medoids.user_ids), default=0)
    present = medoids.pin_ids >= 0
    found = nearest(medoids.pin_ids[present], MEDOID_CANDIDATES + spare)
    near = np.full((*medoids.pin_ids.shape, found.shape[1]), -1, dtype=np.int64)
    near[present] = found
    candidates = np.full((len(medoids.user_ids), SERVED_MEDOIDS, MEDOID_CANDIDATES), -1, dtype=np.int64)
    for row, user in enumerate(medoids.user_ids.tolist()):
        mine = engaged(user)
        for medoid in range(SERVED_MEDOIDS):
            kept = near[row, medoid][(near[row, medoid] >= 0) & ~np.isin(near[row, medoid], mine)]
            candidates[row, medoid, : min(len(kept), MEDOID_CANDIDATES)] = kept[:MEDOID_CANDIDATES]
    return replace(medoids, candidate_pin_ids=candidates.reshape(len(medoids.user_ids), -1))


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
    no_candidates = np.full((len(user_ids), SERVED_MEDOIDS * MEDOID_CANDIDATES), -1, dtype=np.int64)
    return OfflineMedoids(user_ids, times[starts], counts.astype(np.int64), medoids, no_candidates)
