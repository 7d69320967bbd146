"""The served pin embedding: co-engagement vectors of every pin and user of a catalogue, with the
neighbour and popularity baselines beside them and a check that the vectors know topics."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.co_engagement import CoEngagementConfig, fit_co_engagement, item_neighbours, popular_pins
from models.embedding_store import EmbeddingArtifact, chance_agreement, topic_agreement

POPULAR_PINS = 1000  # the popularity baseline's list, longer than any page


@dataclass(frozen=True)
class PinEmbedding:
    """A fitted pin embedding, the engagements it was fit on, its topic figures and fit time."""

    artifact: EmbeddingArtifact
    engagements: int
    topic_agreement: float  # of the pin vectors' 10 nearest neighbours
    chance_agreement: float  # of 10 random pins
    seconds: float


def fit_pin_embedding(
    events: pd.DataFrame, pins: pd.DataFrame, user_ids: np.ndarray, config: CoEngagementConfig
) -> PinEmbedding:
    """Fit on ``events`` (user_id, pin_id, action) over every pin of ``pins`` (pin_id, category)
    and every user of ``user_ids``; measure topic agreement@10 of the pin vectors beside chance."""
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
    agreement = topic_agreement(model.pin_vectors, categories, sample=500, k=10, seed=config.seed)
    return PinEmbedding(artifact, int(matrix.nnz), agreement, chance_agreement(categories), seconds)
