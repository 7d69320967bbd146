"""Page assembly: blend utilities, drop near-duplicates, cap pins per creator, explain each pick."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.page_selection import select_page
from models.similarity_prior import with_similarity_priors
from models.utility import UtilityWeights, blend, stakeholder_utilities
from service.schemas import RecommendedPin
from service.scoring import ScoredCandidates
from service.stages import stage
from service.feature_tables import PinTable

SOURCE_REASONS = {
    "embedding": "close to your interests",
    "pinnersage": "close to one of your interests",
    "two_tower": "matches your recent activity",
    "pinsage": "like pins you engaged with recently",
    "co_engagement": "often engaged together with pins you liked",
    "pixie": "on boards with pins you engaged with",
    "popular": "popular with people like you",
    "text": "similar words",
    "related": "similar to this pin",
}


def explain(sources: list[str], heads: dict[str, float]) -> str:
    """One short sentence: why the pin was proposed, and the action the ranker expects most."""
    reasons = ", ".join(dict.fromkeys(SOURCE_REASONS.get(s, s) for s in sources))
    action, probability = max(((a, p) for a, p in heads.items() if a != "hide"), key=lambda item: item[1])
    return f"{reasons[:1].upper()}{reasons[1:]}; {probability:.0%} chance of a {action.replace('_', ' ')}."


def candidate_utilities(scored: ScoredCandidates, prior_weights: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Each candidate's stakeholder utilities, the pinner's carrying the similarity priors at
    ``prior_weights`` (``models.similarity_prior``; none, or all 0: the ranker's alone)."""
    utilities = stakeholder_utilities(
        scored.heads,
        is_ad=scored.is_ad,
        is_shopping=scored.is_shopping,
        creator_pin_count=scored.creator_pin_count,
        pin_age_days=scored.pin_age_days,
    )
    utilities["pinner"] = with_similarity_priors(utilities["pinner"], scored.similarities, prior_weights)
    return utilities


def assemble_page(
    scored: ScoredCandidates,
    pins: PinTable,
    *,
    weights: UtilityWeights,
    k: int,
    max_per_creator: int,
    prior_weights: Mapping[str, float] | None = None,
) -> list[RecommendedPin]:
    """The ``k`` best candidates by blended utility (``candidate_utilities``), one per near-duplicate group,
    capped per creator."""
    with stage("blend"):
        utilities = candidate_utilities(scored, prior_weights or {})
        scores = blend(utilities, weights)
    with stage("filters"):
        chosen = select_page(
            scores,
            signatures=pins.image_signature[scored.rows],
            creators=pins.creator_id[scored.rows],
            k=k,
            max_per_creator=max_per_creator,
        )
    return _explained(scored, utilities, scores, np.asarray(chosen, dtype=np.int64))


def _explained(
    scored: ScoredCandidates, utilities: dict[str, np.ndarray], scores: np.ndarray, chosen: np.ndarray
) -> list[RecommendedPin]:
    """The ``chosen`` candidates as items, in that order, with their heads, utilities and explanation."""
    # Each array is read once for the page (``tolist``), not once per item and value.
    heads = {name: probs[chosen].tolist() for name, probs in scored.heads.items()}
    utility = {name: values[chosen].tolist() for name, values in utilities.items()}
    page = []
    for position, (pin_id, score, row) in enumerate(
        zip(scored.pin_ids[chosen].tolist(), scores[chosen].tolist(), chosen.tolist())
    ):
        item_heads = {name: values[position] for name, values in heads.items()}
        page.append(
            RecommendedPin(
                pin_id=pin_id,
                score=score,
                sources=scored.sources[row],
                heads=item_heads,
                utility={name: values[position] for name, values in utility.items()},
                explanation=explain(scored.sources[row], item_heads),
            )
        )
    return page
