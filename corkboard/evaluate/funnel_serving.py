"""One held-out user's home-feed request through the service's own functions (those ``home_feed``
and ``ranked_page`` call), kept apart stage by stage: each source's candidates in its own order,
every candidate in the ranker's order (with the PinSAGE prior, as served), and the page after the
blend and filters."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from models.similarity_prior import with_similarity_priors
from service.page import assemble_page, candidate_utilities
from service.served_weights import WeightsOverride
from service.serving_state import ServingState
from service.stages import traced
from service.surfaces.home_feed import home_request
from service.surfaces.ranked_page import scored_candidates
from service.user_context import UserContext

PINNER_ONLY = WeightsOverride({"creator": 0.0, "merchant": 0.0, "ad": 0.0})
PAGE_K = 100


@dataclass(frozen=True)
class ServedRequest:
    """Rows (into the serving catalogue) of each source's candidates, of every candidate in the
    ranker's order (pinner utility, before filters) and of the page; the stage seconds of the trace
    (``total``: the whole request), and what the service reported."""

    user: UserContext
    by_source: dict[str, list[int]]
    candidate_rows: np.ndarray  # in the ranker's scoring order, as the next two
    ranker_pinner: np.ndarray  # the pinner utility of the ranker's heads alone, before the similarity priors
    similarities: dict[str, np.ndarray]  # each prior's kind: the candidates' cosines, in the same order
    prior_weights: dict[str, float]  # the priors' served weights
    ranked: np.ndarray
    page: np.ndarray
    seconds: dict[str, float]
    fallback: str | None
    degraded: list[str]


def served_request(state: ServingState, user_id: int, *, k: int = PAGE_K) -> ServedRequest:
    """The home feed of ``user_id`` at pinner-only weights, ``k`` pins, as ``home_feed`` serves it."""
    with traced() as trace:
        started = time.perf_counter()
        request, candidates, fallback = home_request(state, user_id=user_id, override=PINNER_ONLY)
        scored = scored_candidates(state, request.user, candidates)
        settings = state.settings
        items = assemble_page(
            scored, state.pins, weights=request.weights.weights, k=k, max_per_creator=settings.max_pins_per_creator,
            prior_weights=settings.prior_weights,
        )
        seconds = {**trace.seconds, "total": time.perf_counter() - started}
    ranker_pinner = candidate_utilities(scored, {})["pinner"]
    pinner = with_similarity_priors(ranker_pinner, scored.similarities, settings.prior_weights)
    return ServedRequest(
        user=request.user,
        by_source={source: list(rows) for source, rows in candidates.by_source.items()},
        candidate_rows=scored.rows,
        ranker_pinner=ranker_pinner,
        similarities=scored.similarities,
        prior_weights=settings.prior_weights,
        ranked=scored.rows[np.argsort(-pinner, kind="stable")],  # the order the page's filters walk
        page=state.vectors.model.pin_rows(np.array([item.pin_id for item in items], dtype=np.int64)),
        seconds=seconds,
        fallback=fallback,
        degraded=[*request.weights.degraded_sources, *request.user.degraded, *candidates.degraded],
    )


def rank_in(rows: np.ndarray | list[int], target_row: int) -> float:
    """1-based position of ``target_row`` in ``rows``; infinity when absent (or when the target is unknown, -1)."""
    if target_row < 0:
        return math.inf
    found = np.flatnonzero(np.asarray(rows, dtype=np.int64) == target_row)
    return float(found[0] + 1) if len(found) else math.inf
