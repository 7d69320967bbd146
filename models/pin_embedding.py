"""The served pin embedding: co-engagement vectors of every pin and user of a catalogue, with the
neighbour and popularity baselines beside them and a check that the vectors know topics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.co_engagement import CoEngagementConfig, fit_co_engagement, item_neighbours, popular_pins
from models.embedding_store import EmbeddingArtifact, chance_agreement, topic_agreement_curve

POPULAR_PINS = 1000  # the popularity baseline's list, longer than any page
AGREEMENT_KS = (1, 2, 5, 10, 20, 50)  # neighbours whose topic agreement is measured; 10 is the headline


@dataclass(frozen=True)
class PinEmbedding:
    """A fitted pin embedding, the engagements it was fit on, its topic figures and fit time."""

    artifact: EmbeddingArtifact
    engagements: int
    agreement_by_k: dict[int, float]  # topic agreement of the pin vectors' k nearest neighbours
    chance_agreement: float  # of random pins
    seconds: float

    @property
    def topic_agreement(self) -> float:
        """Topic agreement of the 10 nearest neighbours."""
        return self.agreement_by_k[10]


def fit_pin_embedding(
    events: pd.DataFrame, pins: pd.DataFrame, user_ids: np.ndarray, config: CoEngagementConfig
) -> PinEmbedding:
    """Fit on ``events`` (user_id, pin_id, action) over every pin of ``pins`` (pin_id, category)
    and every user of ``user_ids``; measure the pin vectors' topic agreement at each of
    ``AGREEMENT_KS`` neighbours beside chance."""
    pin_ids, user_ids = np.sort(pins["pin_id"].to_numpy()), np.sort(user_ids)
    started = time.perf_counter()
    model, matrix = fit_co_engagement(events, user_ids, pin_ids, config)
    artifact = EmbeddingArtifact(
        model=model,
        neighbours=item_neighbours(matrix, config.neighbours),
        popular=popular_pins(matrix, POPULAR_PINS),
    )
    seconds = time.perf_counter() - started
    categories = pins.set_index("pin_id").loc[pin_ids, "category"].to_numpy()
    curve = topic_agreement_curve(model.pin_vectors, categories, sample=500, ks=AGREEMENT_KS, seed=config.seed)
    agreement = dict(zip(AGREEMENT_KS, curve, strict=True))
    return PinEmbedding(artifact, int(matrix.nnz), agreement, chance_agreement(categories), seconds)
