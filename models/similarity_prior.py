"""The similarity priors of the page: the ranker's pinner utility, plus how close each candidate is
to the user under the retrieval models (PinSAGE: the user's recent pins; the two-tower: the user
tower's vector).

The ranker reads the PinSAGE cosine as one input among many and learns its weight from logged
impressions, where it is trained on a PinSAGE copy that saw only the log's earlier half; served,
the candidates are already the nearest pins, and the ranker's order alone put fewer held-out items
in the top 10 than either retrieval model's cosine alone. Adding each cosine back, in the page's
own spread::

    pinner' = pinner + sum over kinds of weight * std(pinner) * (similarity - mean(similarity)) / std(similarity)

orders the page as ``z(pinner) + sum of weight * z(similarity)`` does, and keeps the pinner's
scale, so the other stakeholders' weights mean what they meant. The weights are chosen on held-out
validation pages (docs/evaluation.md, "The PinSAGE prior, chosen on validation pages" and "The
two-tower prior beside it").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


PRIOR_KINDS = ("pinsage", "two_tower")


def with_similarity_priors(
    pinner: np.ndarray, similarities: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> np.ndarray:
    """``pinner`` plus its ``similarity_priors``."""
    return np.asarray(pinner, dtype=np.float64) + similarity_priors(pinner, similarities, weights)


def similarity_priors(
    pinner: np.ndarray, similarities: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> np.ndarray:
    """What the priors add to each ``pinner`` utility together: the ``similarity_prior`` of each kind
    in ``weights`` at its weight; a kind without ``similarities`` (its model not served) adds nothing."""
    added = np.zeros(len(pinner), dtype=np.float64)
    for kind, weight in weights.items():
        if kind in similarities:
            added += similarity_prior(pinner, similarities[kind], weight)
    return added


def similarity_prior(pinner: np.ndarray, similarity: np.ndarray, weight: float) -> np.ndarray:
    """What the prior adds to each ``pinner`` utility: ``weight`` times ``similarity``'s z-score in
    units of ``pinner``'s spread (see the module doc); zeros when the weight is 0, or when either
    spread is zero (one candidate, or a user without PinSAGE history, whose similarities are all equal)."""
    pinner = np.asarray(pinner, dtype=np.float64)
    similarity = np.asarray(similarity, dtype=np.float64)
    if pinner.shape != similarity.shape:
        raise ValueError(f"pinner {pinner.shape} and similarity {similarity.shape} differ in shape")
    if weight < 0 or not np.isfinite(weight):
        raise ValueError(f"the prior's weight must be a finite number >= 0, got {weight!r}")
    spread, similarity_spread = pinner.std(), similarity.std()
    if weight == 0 or spread == 0 or similarity_spread == 0:
        return np.zeros_like(pinner)
    return weight * spread * (similarity - similarity.mean()) / similarity_spread
