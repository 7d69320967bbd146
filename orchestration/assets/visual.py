"""The visual CNN over the pins' procedural images, and every pin's visual vector."""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from core.sources.images import render_pin_image
from models.embedding_store import chance_agreement, topic_agreement
from models.training import EpochCallback, TrainingHistory
from models.visual import (
    VisualArtifact,
    VisualConfig,
    embed_images,
    evaluate_visual,
    split_by_signature,
    train_visual,
)
from orchestration.assets.ingest import catalogue
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata
from sql.catalogue import read_table
from sql.versions import activate_version, register_version

VISUAL_KIND = "pin_visual"
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


def fit_pin_visuals(pins: pd.DataFrame, config: VisualConfig, *, on_epoch: EpochCallback | None = None) -> PinVisuals:
    """Render ``pins`` (pin_id, category, image_signature), train on a signature-grouped sample,
    embed every pin and measure the held-out figures plus the vectors' topic agreement@10."""
    with one_torch_thread():
        return _fit_pin_visuals(pins, config, on_epoch)


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


def _fit_pin_visuals(pins: pd.DataFrame, config: VisualConfig, on_epoch: EpochCallback | None) -> PinVisuals:
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
    vectors = embed_images(model, images).vectors
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


@asset(
    group_name="embeddings",
    deps=[catalogue],
    description="A small CNN over pin images (topic, near-duplicate and colour/pattern heads); every pin's visual vector.",
)
def pin_visual_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore
) -> MaterializeResult:
    with database.engine().connect() as conn:
        pins = read_table(conn, table="pins", columns=("pin_id", "category", "image_signature"))
    if pins.empty:
        context.log.warning("no pins in the catalogue: nothing to render")
        return MaterializeResult(metadata={"skipped": "the catalogue has no pins"})
    fit = fit_pin_visuals(
        pins,
        VisualConfig(),
        on_epoch=lambda epoch, loss, score: context.log.info(f"epoch {epoch}: loss {loss:.4f}, validation {score:.4f}"),
    )
    path = artifacts.path_for(VISUAL_KIND, f"{uuid.uuid4().hex}.pt")
    fit.artifact.save(path)
    with database.engine().begin() as conn:
        version = register_version(conn, kind=VISUAL_KIND, artifact=str(path), metrics=fit.metrics)
        activate_version(conn, kind=VISUAL_KIND, version=version)
    pruned = artifacts.prune(database.engine(), kind=VISUAL_KIND)
    context.log.info(f"visual v{version}: {len(pins)} pins embedded, held-out figures {fit.metrics}")
    notes = {}
    if fit.metrics["duplicate_queries"] == 0:
        notes["duplicate_note"] = "no two held-out pins share an image signature: near-duplicate retrieval not measured"
    return MaterializeResult(
        metadata={
            "version": version,
            "path": MetadataValue.path(str(path)),
            "pins": len(pins),
            "pruned_versions": MetadataValue.json(pruned),
            **fit.split_sizes,
            **{name: round(seconds, 2) for name, seconds in fit.seconds.items()},
            **notes,
            **training_metadata(fit.history, "visual CNN", fit.metrics),
        }
    )
