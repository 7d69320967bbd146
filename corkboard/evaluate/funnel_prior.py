"""The similarity priors' weights on the funnel's held-out items: each user's candidates re-ordered
by ``models.similarity_prior`` with one kind's weight at each value of a grid and the other kinds
at their served weights, so the served weights are chosen on validation pages (``corkboard
evaluate --funnel --validation``) and checked on the test cut, one axis at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.leave_last_out import NDCG_K, metrics_from_ranks
from models.similarity_prior import PRIOR_KINDS, with_similarity_priors

PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
SWEEP_KS = (10, 100)
CHOSEN_BY = "recall@10"
KIND_NAMES = {"pinsage": "PinSAGE", "two_tower": "two-tower"}

Ranks = dict[str, dict[str, float]]  # kind -> weight (as text) -> rank


def prior_ranks(
    rows: np.ndarray,
    pinner: np.ndarray,
    similarities: Mapping[str, np.ndarray],
    served: Mapping[str, float],
    target_row: int,
) -> Ranks:
    """1-based rank of ``target_row`` among the candidate ``rows`` ordered by the pinner utility with
    the priors, for each kind at each of ``PRIOR_WEIGHTS`` and the others at their ``served``
    weights; infinity where it is absent."""
    where = np.flatnonzero(np.asarray(rows) == target_row)
    ranks: Ranks = {}
    for kind in PRIOR_KINDS:
        ranks[kind] = {}
        for weight in PRIOR_WEIGHTS:
            if target_row < 0 or not len(where):
                ranks[kind][f"{weight:g}"] = np.inf
                continue
            scores = with_similarity_priors(pinner, similarities, {**served, kind: weight})
            ahead = np.sum(scores > scores[where[0]]) + np.sum(scores[: where[0]] == scores[where[0]])
            ranks[kind][f"{weight:g}"] = float(ahead + 1)  # as a stable sort by descending score places it
    return ranks


def prior_sweep(ranks: Sequence[Ranks], served: Mapping[str, float]) -> dict[str, Any]:
    """Per kind: recall@10, @100 and ndcg@10 at each weight (the other kinds at their served
    weights), the best weight by ``CHOSEN_BY`` (the smaller on a tie), and the weight served."""
    sweep: dict[str, Any] = {"chosen_by": CHOSEN_BY}
    for kind in PRIOR_KINDS:
        figures = {
            weight: metrics_from_ranks(np.array([user[kind][weight] for user in ranks]), SWEEP_KS)
            for weight in (f"{weight:g}" for weight in PRIOR_WEIGHTS)
        }
        best = max(figures, key=lambda weight: (figures[weight][CHOSEN_BY], -float(weight)))
        sweep[kind] = {"weights": figures, "best": best, "served": f"{served[kind]:g}"}
    return sweep


def prior_markdown(sweep: dict[str, Any]) -> list[str]:
    """The sweep as one table per kind, the best and the served weight marked."""
    keys = (*(f"recall@{k}" for k in SWEEP_KS), f"ndcg@{NDCG_K}")
    lines: list[str] = []
    for kind in PRIOR_KINDS:
        axis = sweep[kind]
        labels = {f"best by {sweep['chosen_by']}": axis["best"], "served": axis["served"]}
        if lines:
            lines.append("")
        lines += [
            f"| {KIND_NAMES[kind]} prior weight (others as served) | " + " | ".join(keys) + " | |",
            "| ---: | " + " | ".join(["---:"] * len(keys)) + " | --- |",
        ]
        for weight, row in axis["weights"].items():
            marks = ", ".join(label for label, marked in labels.items() if marked == weight)
            lines.append(f"| {weight} | " + " | ".join(f"{row[key]:.4f}" for key in keys) + f" | {marks} |")
    return lines
