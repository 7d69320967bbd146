"""Score candidates with the multi-task ranker: one probability per action per pin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.ranker_similarities import similarity_columns
from models.similarity_prior import PRIOR_KINDS
from service.candidates import history_mean
from service.serving_state import ServingState
from service.user_context import UserContext


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
    # Each candidate's cosine to the user's side under each kind of the similarity priors (PRIOR_KINDS:
    # PinSAGE to the user's recent pins, the two-tower to the user tower's vector; on a related-pins
    # page, to the subject pin's vectors); zeros where either side has no vector of that kind.
    similarities: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.rows)


def candidate_similarities(
    state: ServingState, rows: np.ndarray, learned_user: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each candidate's cosine to the user's side (``learned_user_vectors``) under every learned kind
    that the ranker or a similarity prior reads, each kind's pin vectors gathered once; zeros where
    either side has no vector of that kind."""
    kinds = list(dict.fromkeys([*state.encoder.similarities, *PRIOR_KINDS]))
    pins = {kind: state.learned[kind].vectors[rows] for kind in kinds if kind in state.learned}
    columns = similarity_columns(kinds, learned_user, pins, len(rows))
    return {kind: columns[:, column] for column, kind in enumerate(kinds)}


def ranker_inputs(
    state: ServingState,
    rows: np.ndarray,
    *,
    user_features: np.ndarray,
    user_vector: np.ndarray | None,
    user_interest: np.ndarray,
    similarities: Mapping[str, np.ndarray],
) -> np.ndarray:
    """The ranker's input rows for the pins at ``rows``, at display position 0.

    ``user_features`` is the user's encoded block (``[1, user_dim]``); ``user_interest`` their
    interest vector over ``state.pins.categories``; ``similarities`` the candidates' cosines per
    learned kind (``candidate_similarities``), of which the ranker reads its encoder's.
    """
    vector = np.zeros(state.encoder.vector_dim, dtype=np.float32) if user_vector is None else user_vector
    learned = np.zeros((len(rows), len(state.encoder.similarities)), dtype=np.float32)
    for column, name in enumerate(state.encoder.similarities):
        learned[:, column] = similarities[name]
    return state.encoder.assemble(
        user_features,
        state.pins.features[rows],
        state.encoder.pair_block(
            vector,
            state.vectors.model.pin_vectors[rows],
            0.0,
            user_interest[state.pins.category_code[rows]],
            learned,
        ),
    )


def score(
    state: ServingState,
    sources: dict[int, list[str]],
    *,
    user_features: np.ndarray,
    user_vector: np.ndarray | None,
    user_interest: np.ndarray,
    learned_user: Mapping[str, np.ndarray],
) -> ScoredCandidates:
    """Run the ranker over candidate rows (``ranker_inputs``); position is 0 for all, so position
    bias drops out. ``learned_user`` is the user side of each learned similarity and prior."""
    rows = np.fromiter(sources, dtype=np.int64, count=len(sources))
    similarities = candidate_similarities(state, rows, learned_user)
    inputs = ranker_inputs(
        state,
        rows,
        user_features=user_features,
        user_vector=user_vector,
        user_interest=user_interest,
        similarities=similarities,
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
        similarities={kind: similarities[kind] for kind in PRIOR_KINDS},
    )


def learned_user_vectors(state: ServingState, user: UserContext) -> dict[str, np.ndarray]:
    """The user side of each learned similarity the ranker reads: the mean vector of the user's
    latest pins of that kind (as in training, ``models.ranker_similarities``); and of the two-tower
    prior, the user tower's vector."""
    means = {name: history_mean(state, name, user.engagements) for name in state.encoder.similarities}
    sides = {name: vector for name, vector in means.items() if vector is not None}
    if user.two_tower_vector is not None:
        sides["two_tower"] = user.two_tower_vector
    return sides


def learned_pin_vectors(state: ServingState, row: int) -> dict[str, np.ndarray]:
    """Each learned vector of the pin at ``row``: the subject of a related-pins page stands in for
    the user's side of every similarity and prior."""
    kinds = dict.fromkeys([*state.encoder.similarities, *PRIOR_KINDS])
    return {kind: state.learned[kind].vectors[row] for kind in kinds if kind in state.learned}
