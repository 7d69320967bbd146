"""PinnerSage: a user as several interest medoids instead of one vector.

Ward clustering of the user's engaged-pin vectors; each cluster is represented by its medoid
(a real pin, not a mean) and weighted by the recency-decayed count of its engagements.
Retrieval is the union of each medoid's nearest pins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform


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
