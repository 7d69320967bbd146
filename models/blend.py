"""An ensemble of two recommenders: a weighted sum of their per-user standardized scores, the weight
chosen on the validation items only (the leave-last-out protocol of ``models.leave_last_out``).

A learned sequence model and item co-occurrence err differently (one reads the order and the whole
history, the other counts which items follow the latest ones), so a blend can beat both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.leave_last_out import NDCG_K, EvaluationSplit, Recommender, metrics_from_ranks, target_ranks

SCORING_BATCH = 256  # users scored at a time: a catalogue of 50,000 items stays in memory
WEIGHTS = tuple(round(0.1 * step, 1) for step in range(11))  # the first model's share: 0 is the second alone


@dataclass(frozen=True)
class BlendConfig:
    """The weights of the first model tried on validation, and the ndcg@10 that chose among them."""

    weights: tuple[float, ...] = WEIGHTS

    def __post_init__(self) -> None:
        if not self.weights or not all(0.0 <= weight <= 1.0 for weight in self.weights):
            raise ValueError(f"need weights in [0, 1], at least one: {self.weights}")


def standardized(scores: np.ndarray) -> np.ndarray:
    """Each row minus its mean, over its standard deviation (a constant row becomes zeros)."""
    scores = np.asarray(scores, dtype=np.float64)
    centred = scores - scores.mean(axis=1, keepdims=True)
    spread = scores.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


class BlendRecommender:
    """``weight * standardized(first) + (1 - weight) * standardized(second)``; ``fit`` fits both on the
    split and keeps the weight of ``config.weights`` with the best validation ndcg@10 (the first on
    ties). ``history`` is the first model's training history, when it has one."""

    def __init__(self, first: Recommender, second: Recommender, config: BlendConfig | None = None, name: str = "blend") -> None:
        self.first, self.second = first, second
        self.blend_config = config or BlendConfig()
        self.name = name
        self.weight = float("nan")
        self.validation_by_weight: dict[float, float] = {}

    def fit(self, split: EvaluationSplit) -> None:
        """Fit both models, then choose the weight on the validation items."""
        self.first.fit(split)
        self.second.fit(split)
        weights = self.blend_config.weights
        ranks: dict[float, list[np.ndarray]] = {weight: [] for weight in weights}
        for start in range(0, split.n_users, SCORING_BATCH):
            users = np.arange(start, min(start + SCORING_BATCH, split.n_users))
            first, second = self._standardized_scores(users, "validation")
            exclude = [split.history(int(user), "validation") for user in users]
            for weight in weights:
                ranks[weight].append(target_ranks(weight * first + (1 - weight) * second, split.validation[users], exclude))
        self.validation_by_weight = {
            weight: metrics_from_ranks(np.concatenate(ranks[weight]), ks=(10,))[f"ndcg@{NDCG_K}"] for weight in weights
        }
        self.weight = max(self.validation_by_weight, key=self.validation_by_weight.__getitem__)  # first on ties

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]`` blended scores, float32."""
        first, second = self._standardized_scores(np.asarray(users), stage)
        return (self.weight * first + (1 - self.weight) * second).astype(np.float32)

    @property
    def config(self) -> str:
        """Both models' configs and the chosen weight, for the report."""
        parts = (getattr(self.first, "config", None), getattr(self.second, "config", None))
        return f"blend(weight={self.weight}, first={parts[0]!r}, second={parts[1]!r})"

    @property
    def history(self) -> Any:
        return getattr(self.first, "history", None)

    def _standardized_scores(self, users: np.ndarray, stage: str) -> tuple[np.ndarray, np.ndarray]:
        return standardized(self.first.scores(users, stage)), standardized(self.second.scores(users, stage))
