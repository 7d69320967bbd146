"""The served retrieval models ranking every pin, the funnel's single-model comparison: each
scores the whole catalogue by exact cosine with the very vectors its home-feed source searches by
HNSW (the user side from the same request), and is ranked as the offline protocol ranks a model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.leave_last_out import target_ranks
from service.candidates import history_mean
from service.serving_state import ServingState
from service.user_context import UserContext

SERVED_MODELS = ("embedding", "two_tower", "pinsage")


@dataclass(frozen=True)
class ServedModels:
    """Unit pin vectors of each served model, row-aligned with the serving catalogue, and why a
    model is missing (not served by this state)."""

    pin_vectors: dict[str, np.ndarray]
    missing: dict[str, str]

    @classmethod
    def of(cls, state: ServingState) -> ServedModels:
        """The co-engagement embedding's pin vectors, the two-tower's (the vectors its pgvector
        version holds, loaded from its checkpoint for the two-tower prior) and PinSAGE's, where served."""
        vectors = {"embedding": state.vectors.model.pin_vectors}
        missing = {}
        if state.two_tower is None:
            missing["two_tower"] = "no two-tower version served"
        else:
            vectors["two_tower"] = state.learned["two_tower"].vectors
        if state.pinsage is None:
            missing["pinsage"] = "no PinSAGE vectors served"
        else:
            vectors["pinsage"] = state.pinsage.vectors
        return cls({name: _unit_rows(matrix) for name, matrix in vectors.items()}, missing)

    def ranks(
        self, state: ServingState, user: UserContext, target_row: int, history_rows: np.ndarray
    ) -> dict[str, float]:
        """Each model's rank of ``target_row`` among every pin but ``history_rows`` (ties pessimistic,
        as ``models.leave_last_out``); infinity where the model has no vector for the user or the pin."""
        user_vectors = {
            "embedding": user.vector,
            "two_tower": user.two_tower_vector,
            "pinsage": history_mean(state, "pinsage", user.engagements),
        }
        ranks = {}
        for name, pins in self.pin_vectors.items():
            vector = user_vectors[name]
            if vector is None or target_row < 0:
                ranks[name] = math.inf
                continue
            scores = pins @ (vector / np.linalg.norm(vector))
            ranks[name] = float(target_ranks(scores[None, :], np.array([target_row]), [history_rows])[0])
        return ranks


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is the cosine pgvector searches by."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=np.float64), where=norms > 0)

