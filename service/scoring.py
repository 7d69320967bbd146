"""Score candidates with the multi-task ranker: one probability per action per pin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.serving_state import ServingState


@dataclass(frozen=True)
class ScoredCandidates:
    """Candidates with the ranker's head probabilities and the attributes the blend needs."""

    rows: np.ndarray
    pin_ids: np.ndarray
    sources: list[list[str]]
    heads: dict[str, np.ndarray]
    is_ad: np.ndarray
    is_shopping: np.ndarray
    creator_pin_count: np.ndarray
    pin_age_days: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def score(
    state: ServingState,
    sources: dict[int, list[str]],
    *,
    user_features: np.ndarray,
    user_vector: np.ndarray | None,
    user_interest: np.ndarray,
) -> ScoredCandidates:
    """Run the ranker over candidate rows; position is 0 for all, so position bias drops out.

    ``user_features`` is the user's encoded block (``[1, user_dim]``); ``user_interest`` their
    interest vector over ``state.pins.categories``.
    """
    rows = np.fromiter(sources, dtype=np.int64, count=len(sources))
    vector = np.zeros(state.encoder.vector_dim, dtype=np.float32) if user_vector is None else user_vector
    inputs = state.encoder.assemble(
        user_features,
        state.pins.features[rows],
        state.encoder.pair_block(
            vector, state.vectors.model.pin_vectors[rows], 0.0, user_interest[state.pins.category_code[rows]]
        ),
    )
    pins = state.pins
    return ScoredCandidates(
        rows=rows,
        pin_ids=state.vectors.model.pin_ids[rows],
        sources=[sources[row] for row in rows.tolist()],
        heads=state.ranker.predict_heads(inputs),
        is_ad=pins.is_ad[rows],
        is_shopping=pins.is_shopping[rows],
        creator_pin_count=pins.creator_pin_count[rows],
        pin_age_days=pins.age_days[rows],
    )
