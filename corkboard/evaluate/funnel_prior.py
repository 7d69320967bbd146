"""The PinSAGE prior's weight on the funnel's held-out items: each user's candidates re-ordered by
``models.similarity_prior`` at every weight of a grid, so the served weight is chosen on
validation pages (``corkboard evaluate --funnel --validation``) and checked on the test cut."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.leave_last_out import NDCG_K, metrics_from_ranks
from models.similarity_prior import with_similarity_prior

PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
SWEEP_KS = (10, 100)
CHOSEN_BY = "recall@10"


def prior_ranks(
    rows: np.ndarray, pinner: np.ndarray, similarity: np.ndarray, target_row: int
) -> dict[str, float]:
    """1-based rank of ``target_row`` among the candidate ``rows`` ordered by the pinner utility with
    the prior at each of ``PRIOR_WEIGHTS`` (key: the weight as text); infinity where it is absent."""
    where = np.flatnonzero(np.asarray(rows) == target_row)
    ranks = {}
    for weight in PRIOR_WEIGHTS:
        if target_row < 0 or not len(where):
            ranks[f"{weight:g}"] = np.inf
            continue
        scores = with_similarity_prior(pinner, similarity, weight)
        ahead = np.sum(scores > scores[where[0]]) + np.sum(scores[: where[0]] == scores[where[0]])
        ranks[f"{weight:g}"] = float(ahead + 1)  # as a stable sort by descending score places it
    return ranks


def prior_sweep(ranks: Sequence[dict[str, float]], served_weight: float) -> dict[str, Any]:
    """Recall@10, @100 and ndcg@10 at each weight, the best weight by ``CHOSEN_BY`` (the smaller on a
    tie), and the weight served."""
    figures = {
        weight: metrics_from_ranks(np.array([user[weight] for user in ranks]), SWEEP_KS)
        for weight in (f"{weight:g}" for weight in PRIOR_WEIGHTS)
    }
    best = max(figures, key=lambda weight: (figures[weight][CHOSEN_BY], -float(weight)))
    return {"weights": figures, "chosen_by": CHOSEN_BY, "best": best, "served": f"{served_weight:g}"}


def prior_markdown(sweep: dict[str, Any]) -> list[str]:
    """The sweep as a table, the best and the served weight marked."""
    keys = (*(f"recall@{k}" for k in SWEEP_KS), f"ndcg@{NDCG_K}")
    labels = {f"best by {sweep['chosen_by']}": sweep["best"], "served": sweep["served"]}
    lines = [
        "| PinSAGE prior weight | " + " | ".join(keys) + " | |",
        "| ---: | " + " | ".join(["---:"] * len(keys)) + " | --- |",
    ]
    for weight, row in sweep["weights"].items():
        marks = ", ".join(label for label, marked in labels.items() if marked == weight)
        lines.append(f"| {weight} | " + " | ".join(f"{row[key]:.4f}" for key in keys) + f" | {marks} |")
    return lines
