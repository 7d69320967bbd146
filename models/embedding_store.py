"""The saved form of a pin embedding version, and a quick check that it knows topics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic_files import atomic_path
from models.co_engagement import CoEngagementModel

# Sampled pins scored at a time in ``topic_agreement``: their scores against 1M pins and the
# partition's indices take 16 x 1M x 16 bytes, 256 MB; all 500 at once took 7 GB on large.
QUERIES_PER_BLOCK = 16


@dataclass(frozen=True)
class EmbeddingArtifact:
    """Vectors plus what serving needs beside them: co-engaged neighbours and popular pins.

    ``neighbours`` and ``popular`` hold row indices into ``model.pin_ids`` (-1 pads).
    """

    model: CoEngagementModel
    neighbours: np.ndarray
    popular: np.ndarray

    def save(self, path: Path) -> None:
        """Write every array to one .npz file that appears whole or not at all."""
        # A stream, because np.savez adds .npz to a path that lacks it.
        with atomic_path(path) as partial, partial.open("wb") as stream:
            np.savez(
                stream,
                pin_ids=self.model.pin_ids,
                pin_vectors=self.model.pin_vectors,
                user_ids=self.model.user_ids,
                user_vectors=self.model.user_vectors,
                neighbours=self.neighbours,
                popular=self.popular,
            )

    @classmethod
    def load(cls, path: Path | str) -> EmbeddingArtifact:
        with np.load(path) as arrays:
            model = CoEngagementModel(
                arrays["pin_ids"], arrays["pin_vectors"], arrays["user_ids"], arrays["user_vectors"]
            )
            return cls(model, arrays["neighbours"], arrays["popular"])


def topic_agreement(vectors: np.ndarray, categories: np.ndarray, *, sample: int, k: int, seed: int) -> float:
    """Share of a sampled pin's ``k`` nearest pins (cosine) that have its category."""
    return topic_agreement_curve(vectors, categories, sample=sample, ks=(k,), seed=seed)[0]


def topic_agreement_curve(
    vectors: np.ndarray, categories: np.ndarray, *, sample: int, ks: Sequence[int], seed: int
) -> list[float]:
    """``topic_agreement`` at each k of ``ks``, over the same sampled pins; NaN for a k that is not
    below the number of pins with a vector. The sampled pins are scored ``QUERIES_PER_BLOCK`` at a time."""
    has_vector = np.flatnonzero(np.any(vectors != 0, axis=1))
    deepest = min(max(ks), len(has_vector) - 1)
    if deepest < 1:
        return [float("nan")] * len(ks)
    queries = np.random.default_rng(seed).choice(has_vector, size=min(sample, len(has_vector)), replace=False)
    candidates = vectors if len(has_vector) == len(vectors) else vectors[has_vector]
    blocks = [queries[start : start + QUERIES_PER_BLOCK] for start in range(0, len(queries), QUERIES_PER_BLOCK)]
    nearest = np.concatenate(
        [_nearest(candidates, vectors[block], np.searchsorted(has_vector, block), deepest) for block in blocks]
    )
    same = categories[has_vector[nearest]] == categories[queries][:, None]
    return [float(same[:, :k].mean()) if k <= deepest else float("nan") for k in ks]


def _nearest(candidates: np.ndarray, queries: np.ndarray, own: np.ndarray, depth: int) -> np.ndarray:
    """Per row of ``queries``, the rows of ``candidates`` of its ``depth`` highest dot products, highest
    first, leaving out its own row (``own``)."""
    scores = queries @ candidates.T
    scores[np.arange(len(queries)), own] = -np.inf
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)


def chance_agreement(categories: np.ndarray) -> float:
    """The topic agreement of random neighbours: the sum of squared category shares."""
    _, counts = np.unique(categories, return_counts=True)
    return float(((counts / counts.sum()) ** 2).sum())
