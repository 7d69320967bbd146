"""The planted truth behind a synthetic world: what evaluation can compare models against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.sources.boards import BoardTruth
from core.sources.catalogue import PinTruth
from core.sources.population import UserTruth
from core.sources.utility import UtilityModel

_CHUNK = 1_000_000  # rows per affinity batch, to bound memory on large worlds


@dataclass(frozen=True)
class PlantedTruth:
    """Topic vectors, per-pin/user/board truth (indexed by id) and the utility model."""

    topic_vectors: np.ndarray
    pins: PinTruth
    users: UserTruth
    boards: BoardTruth
    utility: UtilityModel
    span_ms: tuple[int, int]

    def fraction(self, ts_ms: np.ndarray) -> np.ndarray:
        """How far through the event span each timestamp lies (clipped to [0, 1] where used)."""
        start, end = self.span_ms
        return (ts_ms - start) / (end - start)

    def interest_mask(self) -> np.ndarray:
        """Bool (n_users, n_topics): the topics each user is interested in at some time."""
        return self.users.interests.mask(len(self.topic_vectors))

    def interest_topics(
        self, user: np.ndarray, ts_ms: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """A topic per row drawn from the user's interests as they stand at ts."""
        return self.users.interests.draw_topics(user, self.fraction(ts_ms), rng)

    def affinity(self, user: np.ndarray, ts_ms: np.ndarray, pin: np.ndarray) -> np.ndarray:
        """The taste term of the utility model for each (user, time, pin) row."""
        # Pin-to-topic similarity once, so rows only gather scalars.
        similarity = self.pins.vectors @ self.topic_vectors.T.astype(np.float32)
        interests = self.users.interests
        parts = []
        for lo in range(0, len(user), _CHUNK):
            rows = slice(lo, lo + _CHUNK)
            weights = interests.weights_at(user[rows], self.fraction(ts_ms[rows]))
            strength = weights / weights.max(axis=1, keepdims=True)
            topics = interests.topics[user[rows]]
            parts.append((strength * similarity[pin[rows, None], topics]).sum(axis=1))
        return np.concatenate(parts) if parts else np.zeros(0)
