"""Held-out figures for the visual CNN, each beside the figure chance (or a baseline) gives."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.visual.model import (
    COLOUR_TARGETS,
    VisualCNN,
    augment,
    distinct_pictures,
    embed_images,
    image_tensor,
    style_targets,
)


def r_squared(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination averaged over columns (``[n, k]`` arrays)."""
    residual = ((truth - predicted) ** 2).sum(axis=0)
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - residual / np.maximum(total, 1e-12)))


def evaluate_visual(
    model: VisualCNN,
    images: np.ndarray,
    categories: np.ndarray,
    signatures: np.ndarray,
    *,
    seed: int,
) -> dict[str, float]:
    """Figures on held-out ``images`` (uint8 ``[n, size, size, 3]``) with their categories and
    image signatures.

    - ``topic_accuracy`` of the topic head, beside ``topic_majority`` (the largest topic's share);
    - ``colour_r2`` (mean R, G, B) and ``pattern_r2`` (edge energy along x and y) of the style head;
    - near-duplicate retrieval: every image whose signature another image here shares is a
      query, shown as one augmented view (a re-upload); the gallery is the clean images minus
      the query itself. ``duplicate_hit`` is the share of queries whose nearest gallery vector
      shares their signature; ``duplicate_hit_pixels`` the same by raw centred pixels;
      ``duplicate_chance`` that of a random neighbour; ``duplicate_ceiling`` that of an exact
      picture matcher breaking ties at random (distinct signatures can draw the same picture).
      With no such query, only ``duplicate_queries`` = 0 is reported.
    """
    categories, signatures = np.asarray(categories).astype(str), np.asarray(signatures)
    predictions = embed_images(model, images)
    targets = style_targets(images)
    _, topic_counts = np.unique(categories, return_counts=True)
    metrics = {
        "topic_accuracy": float((predictions.topics == categories).mean()),
        "topic_majority": float(topic_counts.max() / len(categories)),
        "colour_r2": r_squared(targets[:, :COLOUR_TARGETS], predictions.style[:, :COLOUR_TARGETS]),
        "pattern_r2": r_squared(targets[:, COLOUR_TARGETS:], predictions.style[:, COLOUR_TARGETS:]),
    }
    return metrics | _duplicate_retrieval(model, images, predictions.vectors, signatures, seed=seed)


def _duplicate_retrieval(
    model: VisualCNN,
    images: np.ndarray,
    vectors: np.ndarray,
    signatures: np.ndarray,
    *,
    seed: int,
) -> dict[str, float]:
    same_signature = signatures[:, None] == signatures[None, :]
    np.fill_diagonal(same_signature, False)
    queries = np.flatnonzero(same_signature.any(axis=1))
    if len(queries) == 0:
        return {"duplicate_queries": 0.0}
    generator = torch.Generator().manual_seed(seed)
    views = augment(image_tensor(images[queries]), model.config, generator)
    with torch.inference_mode():
        query_vectors = model.eval()(views).vector.numpy()
    pixels = _centred_unit(image_tensor(images).flatten(1))
    query_pixels = _centred_unit(views.flatten(1))

    def hit_rate(query: np.ndarray, gallery: np.ndarray) -> float:
        scores = query @ gallery.T
        # A query's own clean image is not in its gallery.
        scores[np.arange(len(queries)), queries] = -np.inf
        return float(same_signature[queries, scores.argmax(axis=1)].mean())

    picture = distinct_pictures(images)[1]
    same_picture = picture[queries][:, None] == picture[None, :]
    same_picture[np.arange(len(queries)), queries] = False
    siblings = same_signature[queries].sum(axis=1)
    return {
        "duplicate_queries": float(len(queries)),
        "duplicate_hit": hit_rate(query_vectors, vectors),
        "duplicate_hit_pixels": hit_rate(query_pixels, pixels),
        "duplicate_chance": float((siblings / (len(images) - 1)).mean()),
        "duplicate_ceiling": float((siblings / np.maximum(same_picture.sum(axis=1), siblings)).mean()),
    }


def _centred_unit(pixels: torch.Tensor) -> np.ndarray:
    """Each row minus its mean, scaled to unit length: pixel matching blind to brightness."""
    return F.normalize(pixels - pixels.mean(dim=1, keepdim=True), dim=1).numpy()
