"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item-item
weight matrix in closed form, B = I - P diag(1 / diag(P)) with P = (X^T X + lambda I)^-1, so
diag(B) = 0 and no item predicts itself; a user's scores are their history row times B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.baselines import training_matrix
from models.leave_last_out import EvaluationSplit


@dataclass(frozen=True)
class EASEConfig:
    l2: float = 500.0  # lambda, the L2 penalty on B

    def __post_init__(self) -> None:
        if self.l2 <= 0:
            raise ValueError(f"need l2 > 0 (X^T X alone may be singular), got {self.l2}")


def ease_weights(interactions: np.ndarray, l2: float) -> np.ndarray:
    """The ``[n_items, n_items]`` EASE matrix of a binary ``[n_users, n_items]`` matrix, float32."""
    gram = interactions.T @ interactions
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / -np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights.astype(np.float32)


class EASERecommender:
    """EASE under the evaluation protocol; ``EASERecommender(EASEConfig(l2=...))``."""

    name = "ease"

    def __init__(self, config: EASEConfig | None = None) -> None:
        self.config = config or EASEConfig()

    def fit(self, split: EvaluationSplit) -> None:
        """Solve for B on the training interactions (float64, one dense inverse)."""
        dense = training_matrix(split).toarray().astype(np.float64)
        self.weights = ease_weights(dense, self.config.l2)
        self._split = split

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]``: each user's ``history(user, stage)`` as a binary row, times B."""
        rows = np.zeros((len(users), self._split.n_items), dtype=np.float32)
        for row, user in enumerate(users):
            rows[row, self._split.history(int(user), stage)] = 1.0
        return rows @ self.weights
