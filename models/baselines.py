"""The simple recommenders every learned model must beat (DESIGN.md section 5), to the evaluation protocol.

All of them learn from training interactions only; at scoring time they condition on the user's
history for the stage (training items, plus the validation item when predicting test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from models.all_action import AllActionSplit
from models.co_engagement import CoEngagementConfig, CoEngagementModel, factorize
from models.leave_last_out import EvaluationSplit
from models.pinnersage import PinnerSageConfig, pinnersage_medoids

DAY_S = 86_400.0


def _sparse_rows(items: list[np.ndarray], values: list[np.ndarray], n_items: int) -> sparse.csr_matrix:
    """``[len(items), n_items]`` with ``values[r]`` at columns ``items[r]`` of row r."""
    rows = np.repeat(np.arange(len(items)), [len(row) for row in items])
    cols = np.concatenate([np.empty(0, dtype=np.int64), *items])
    data = np.concatenate([np.empty(0, dtype=np.float32), *values])
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(items), n_items))


def training_matrix(split: EvaluationSplit | AllActionSplit) -> sparse.csr_matrix:
    """Binary users x items matrix of the training interactions."""
    return _sparse_rows(split.train, [np.ones(len(items), dtype=np.float32) for items in split.train], split.n_items)


def _co_engagement(split: EvaluationSplit | AllActionSplit, config: CoEngagementConfig) -> CoEngagementModel:
    """The co-engagement factorization of the training interactions, rows = dense user/item index."""
    return factorize(training_matrix(split), np.arange(split.n_users), np.arange(split.n_items), config)


class PopularityRecommender:
    """Every user gets the same ranking: items by number of training users."""

    name = "popularity"

    def fit(self, split: EvaluationSplit) -> None:
        self._counts = np.asarray(training_matrix(split).sum(axis=0), dtype=np.float32).ravel()

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        return np.tile(self._counts, (len(users), 1))


@dataclass(frozen=True)
class ItemCooccurrenceConfig:
    history_half_life: float = 1.0  # in history positions: the latest item weighs 1, the one before 0.5


class ItemCooccurrenceRecommender:
    """Item-item co-occurrence over training histories, cosine-normalized; a user's score for an item
    is the recency-weighted sum of its co-occurrence with the user's history items."""

    name = "item_cooccurrence"

    def __init__(self, config: ItemCooccurrenceConfig = ItemCooccurrenceConfig()) -> None:
        self.config = config

    def fit(self, split: EvaluationSplit) -> None:
        binary = training_matrix(split)
        counts = (binary.T @ binary).tocsr()
        counts.setdiag(0)
        counts.eliminate_zeros()
        users_per_item = np.asarray(binary.sum(axis=0)).ravel()
        norm = sparse.diags(1.0 / np.sqrt(np.maximum(users_per_item, 1.0)))
        self._similarity = (norm @ counts @ norm).tocsr()
        self._split = split

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        histories = [self._split.history(int(user), stage) for user in users]
        weights = [0.5 ** (np.arange(len(items))[::-1] / self.config.history_half_life) for items in histories]
        weighted = _sparse_rows(histories, weights, self._split.n_items)
        return (weighted @ self._similarity).toarray().astype(np.float32)


class CoEngagementRecommender:
    """User and item vectors from one co-engagement factorization; score = their dot product."""

    name = "co_engagement"

    def __init__(self, config: CoEngagementConfig | None = None) -> None:
        self.config = config or CoEngagementConfig()

    def fit(self, split: EvaluationSplit) -> None:
        self._model = _co_engagement(split, self.config)

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        return self._model.user_vectors[users] @ self._model.pin_vectors.T


@dataclass(frozen=True)
class PinnerSageRecommenderConfig:
    clusters: PinnerSageConfig = field(default_factory=PinnerSageConfig)
    vectors: CoEngagementConfig = field(default_factory=CoEngagementConfig)


class PinnerSageRecommender:
    """PinnerSage over item vectors: a user is the medoids of their history's clusters; an item
    scores its best cosine to a medoid, scaled by that medoid's share of the top importance. As
    every item is scored, the top K is the union of each medoid's nearest items, the more
    important medoids' reaching further.

    The item vectors are the co-engagement factorization of the training interactions unless
    ``item_vectors`` (unit rows, ``[n_items, d]``, e.g. another model's) are given. ``fit`` also
    takes an ``AllActionSplit`` (``models.all_action``), whose histories it reads the same way.
    """

    name = "pinnersage"

    def __init__(
        self, config: PinnerSageRecommenderConfig = PinnerSageRecommenderConfig(), item_vectors: np.ndarray | None = None
    ) -> None:
        self.config = config
        self.given_vectors = item_vectors

    def fit(self, split: EvaluationSplit | AllActionSplit) -> None:
        if self.given_vectors is None:
            self._item_vectors = _co_engagement(split, self.config.vectors).pin_vectors
        elif self.given_vectors.shape[0] != split.n_items:
            raise ValueError(f"item_vectors has {self.given_vectors.shape[0]} rows for {split.n_items} items")
        else:
            self._item_vectors = np.asarray(self.given_vectors, dtype=np.float32)
        self._split = split

    def _medoids(self, user: int, stage: str) -> tuple[np.ndarray, np.ndarray]:
        """The user's medoid vectors and their importance relative to the top one."""
        items = self._split.history(user, stage)
        times = self._split.history_times(user, stage)
        vectors = self._item_vectors[items]
        medoids = pinnersage_medoids(vectors, (times.max(initial=0.0) - times) / DAY_S, self.config.clusters)
        weights = medoids.importance / medoids.importance.max(initial=1e-12)
        return vectors[medoids.rows], weights.astype(np.float32)

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        out = np.zeros((len(users), self._split.n_items), dtype=np.float32)
        for row, user in enumerate(users):
            medoids, weights = self._medoids(int(user), stage)
            if len(medoids):
                # Cosine moved into [0, 1] so that a smaller weight always lowers a score; in place, as
                # this runs once per user over every item.
                similarity = medoids @ self._item_vectors.T
                similarity += 1.0
                similarity *= weights[:, None] / 2.0
                similarity.max(axis=0, out=out[row])
        return out
