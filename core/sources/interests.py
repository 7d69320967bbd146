"""Users' planted interests: a sparse topic mixture that drifts towards one new topic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_INTERESTS = 4
SLOTS = MAX_INTERESTS + 1  # the last slot holds the topic a user drifts towards


@dataclass(frozen=True)
class Interests:
    """Per user: topic indices (n, SLOTS) and their weights at the start and end of the span."""

    topics: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def weights_at(self, users: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Weights (len(users), SLOTS) summing to 1, ``fraction`` of the way through the span."""
        f = np.clip(fraction, 0.0, 1.0)[:, None]
        return (1.0 - f) * self.start[users] + f * self.end[users]

    def draw_topics(
        self, users: np.ndarray, fraction: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """A topic per row, drawn by that user's interest weights at ``fraction`` of the span."""
        cumulative = np.cumsum(self.weights_at(users, fraction), axis=1)
        slot = (rng.random(len(users))[:, None] * cumulative[:, -1:] >= cumulative).sum(axis=1)
        return self.topics[users, np.minimum(slot, SLOTS - 1)]

    def mask(self, n_topics: int) -> np.ndarray:
        """Bool (n_users, n_topics): topics a user holds any interest in during the span."""
        held = np.zeros((len(self.topics), n_topics), dtype=bool)
        rows = np.repeat(np.arange(len(self.topics)), SLOTS)
        positive = (np.maximum(self.start, self.end) > 0).ravel()
        held[rows[positive], self.topics.ravel()[positive]] = True
        return held


def draw_interests(
    n_users: int, topic_popularity: np.ndarray, rng: np.random.Generator
) -> Interests:
    """2-4 interests per user (popular topics likelier) plus a drift topic that grows over time."""
    n_topics = len(topic_popularity)
    # Gumbel top-k: distinct topics per user, sampled in proportion to popularity.
    keys = np.log(topic_popularity)[None, :] + rng.gumbel(size=(n_users, n_topics))
    topics = np.argsort(-keys, axis=1)[:, :SLOTS]
    count = rng.integers(2, MAX_INTERESTS + 1, size=n_users)
    raw = rng.gamma(1.0, size=(n_users, SLOTS))
    raw[np.arange(SLOTS)[None, :] >= count[:, None]] = 0.0  # also empties the drift slot
    start = raw / raw.sum(axis=1, keepdims=True)
    drift = rng.uniform(0.1, 0.4, size=n_users)[:, None]
    end = start * (1.0 - drift)
    end[:, -1] = drift[:, 0]
    return Interests(topics=topics, start=start, end=end)
