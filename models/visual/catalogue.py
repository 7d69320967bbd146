"""The visual CNN over a whole catalogue: render every pin's image, train on a signature-grouped
sample, embed every pin, and measure the held-out figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch

from core.sources.images import render_pin_image
from models.batch_inference import MapRows, map_here
from models.embedding_store import chance_agreement, topic_agreement
from models.training import EpochCallback, TrainingHistory
from models.visual.artifact import VisualArtifact
from models.visual.held_out import evaluate_visual
from models.visual.model import VisualCNN, VisualConfig, embed_images
from models.visual.training import split_by_signature, train_visual

# Training sees a sample (whole signature groups); every pin is embedded afterwards.
TRAIN_PINS, VALIDATION_PINS, TEST_PINS = 3000, 500, 2000


def render_pins(pins: pd.DataFrame, size: int) -> np.ndarray:
    """uint8 ``[len(pins), size, size, 3]``: each pin's image from its category and signature."""
    images = np.empty((len(pins), size, size, 3), dtype=np.uint8)
    for row, (category, signature) in enumerate(zip(pins["category"], pins["image_signature"], strict=True)):
        images[row] = render_pin_image(str(category), int(signature), size)
    return images


@dataclass(frozen=True)
class PinVisuals:
    """A trained visual CNN with every pin's vector, its history, held-out figures and timings."""

    artifact: VisualArtifact
    history: TrainingHistory
    metrics: dict[str, float]
    split_sizes: dict[str, int]
    seconds: dict[str, float]


def fit_pin_visuals(
    pins: pd.DataFrame,
    config: VisualConfig,
    *,
    on_epoch: EpochCallback | None = None,
    map_rows: MapRows = map_here,
) -> PinVisuals:
    """Render ``pins`` (pin_id, category, image_signature), train on a signature-grouped sample,
    embed every pin (``image_vectors`` mapped over the images by ``map_rows``) and measure the
    held-out figures plus the vectors' topic agreement@10."""
    with one_torch_thread():
        return _fit_pin_visuals(pins, config, on_epoch, map_rows)


def image_vectors(model: VisualCNN, images: np.ndarray) -> np.ndarray:
    """The unit vectors float32 ``[len(images), dim]`` of ``embed_images``."""
    return embed_images(model, images).vectors


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block: convolutions on 16-pixel images gain nothing
    from a second thread, and on a busy machine its synchronisation makes them several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_pin_visuals(
    pins: pd.DataFrame, config: VisualConfig, on_epoch: EpochCallback | None, map_rows: MapRows
) -> PinVisuals:
    pins = pins.sort_values("pin_id", ignore_index=True)
    started = time.perf_counter()
    images = render_pins(pins, config.image_size)
    render_seconds = time.perf_counter() - started
    categories, signatures = (
        pins["category"].astype(str).to_numpy(),
        pins["image_signature"].to_numpy(),
    )
    train, validation, test = split_by_signature(
        signatures,
        train=TRAIN_PINS,
        validation=min(VALIDATION_PINS, len(pins) // 10),
        test=min(TEST_PINS, len(pins) // 5),
        seed=config.seed,
    )
    model, history = train_visual(
        images,
        categories,
        config,
        train_rows=train,
        validation_rows=validation,
        on_epoch=on_epoch,
    )
    started = time.perf_counter()
    vectors = map_rows(partial(image_vectors, model), images)
    embed_seconds = time.perf_counter() - started
    metrics = evaluate_visual(model, images[test], categories[test], signatures[test], seed=config.seed)
    metrics["topic_agreement@10"] = topic_agreement(vectors, categories, sample=500, k=10, seed=config.seed)
    metrics["chance_topic_agreement"] = chance_agreement(categories)
    return PinVisuals(
        artifact=VisualArtifact(model, pins["pin_id"].to_numpy(), vectors),
        history=history,
        metrics=metrics,
        split_sizes={
            "train_pins": len(train),
            "validation_pins": len(validation),
            "test_pins": len(test),
        },
        seconds={"render_seconds": render_seconds, "embed_seconds": embed_seconds},
    )
