"""Page assembly: a creator never fills more than ``max_per_creator`` of any ``CREATOR_WINDOW``
consecutive places, and a near-duplicate image appears once."""

from __future__ import annotations

import numpy as np
import pytest

from models.utility import UtilityWeights
from service.feature_tables import PinTable
from models.page_selection import CREATOR_WINDOW
from service.page import assemble_page
from service.scoring import ScoredCandidates

PINS_OF = {1: 4, 2: 2, 3: 1, 4: 1}  # creator -> candidate pins of theirs, best first within the creator


def candidates(creators: np.ndarray, signatures: np.ndarray) -> tuple[ScoredCandidates, PinTable]:
    """One candidate per row, better the earlier it comes (P(save) falls with the row)."""
    n = len(creators)
    save = np.linspace(0.9, 0.1, n)
    zeros, falses = np.zeros(n), np.zeros(n, dtype=bool)
    scored = ScoredCandidates(
        rows=np.arange(n), pin_ids=np.arange(100, 100 + n), sources=[["text"]] * n,
        heads={"click": zeros, "save": save, "long_click": zeros, "hide": zeros},
        is_ad=falses, is_shopping=falses, creator_pin_count=np.ones(n), pin_age_days=np.full(n, 30.0),
        # nearest the user's pins last, and also last under the two-tower
        similarities={"pinsage": np.linspace(-0.5, 0.5, n), "two_tower": np.linspace(-0.2, 0.2, n)},
    )
    pins = PinTable(
        features=np.zeros((n, 1)), is_ad=falses, is_shopping=falses, creator_id=creators,
        creator_pin_count=np.ones(n), age_days=np.full(n, 30.0), image_signature=signatures,
        category=np.array(["pets"] * n), category_code=np.zeros(n, dtype=np.int64), categories=np.array(["pets"]),
        default_features=np.zeros((n, 1), dtype=bool),
    )
    return scored, pins


def test_a_page_holds_at_most_the_cap_of_one_creators_pins() -> None:
    creators = np.array([creator for creator, count in PINS_OF.items() for _ in range(count)])
    scored, pins = candidates(creators, signatures=np.arange(len(creators)))
    page = assemble_page(scored, pins, weights=UtilityWeights(), k=6, max_per_creator=2)
    shown = [int(creators[item.pin_id - 100]) for item in page]
    # Creator 1's third and fourth pins score above creator 3's and 4's, and are skipped for them.
    assert shown == [1, 1, 2, 2, 3, 4]
    assert [item.score for item in page] == sorted((item.score for item in page), reverse=True)


def test_a_creator_held_back_returns_once_a_window_has_passed() -> None:
    favourite, others = 1, list(range(2, 2 + CREATOR_WINDOW + 2))  # the favourite's 6 pins score best
    creators = np.array([favourite] * 6 + others)
    scored, pins = candidates(creators, signatures=np.arange(len(creators)))
    page = assemble_page(scored, pins, weights=UtilityWeights(), k=len(creators), max_per_creator=2)
    places = [place for place, item in enumerate(page) if creators[item.pin_id - 100] == favourite]
    # Two places, then a window of others, then the next two as soon as the window allows, and so on.
    assert places == [0, 1, CREATOR_WINDOW, CREATOR_WINDOW + 1]
    assert all(
        sum(creators[item.pin_id - 100] == favourite for item in page[start : start + CREATOR_WINDOW]) <= 2
        for start in range(len(page))
    )
    assert len(page) == len(others) + 4  # the last two wait for a place that never comes: the page is short


def test_the_cap_leaves_a_page_short_rather_than_break_it() -> None:
    creators = np.array([1, 1, 1, 1, 2])
    scored, pins = candidates(creators, signatures=np.arange(5))
    page = assemble_page(scored, pins, weights=UtilityWeights(), k=5, max_per_creator=1)
    assert [int(creators[item.pin_id - 100]) for item in page] == [1, 2]


def test_a_near_duplicate_image_is_shown_once() -> None:
    scored, pins = candidates(np.arange(4), signatures=np.array([7, 7, 8, 7]))
    page = assemble_page(scored, pins, weights=UtilityWeights(), k=4, max_per_creator=2)
    assert [item.pin_id for item in page] == [100, 102]


@pytest.mark.parametrize("kind", ["pinsage", "two_tower"])
def test_a_similarity_prior_lifts_the_candidates_nearest_the_user(kind: str) -> None:
    creators = np.arange(6)
    scored, pins = candidates(creators, signatures=np.arange(6))
    ranker_only = assemble_page(scored, pins, weights=UtilityWeights(), k=6, max_per_creator=2)
    assert [item.pin_id for item in ranker_only] == [100, 101, 102, 103, 104, 105]
    unweighted = {"pinsage": 0.0, "two_tower": 0.0}
    assert assemble_page(scored, pins, weights=UtilityWeights(), k=6, max_per_creator=2, prior_weights=unweighted) == (
        ranker_only
    )
    with_prior = assemble_page(
        scored, pins, weights=UtilityWeights(), k=6, max_per_creator=2, prior_weights={kind: 3.0}
    )
    assert [item.pin_id for item in with_prior] == [105, 104, 103, 102, 101, 100]
    assert [item.utility["pinner"] for item in with_prior] == sorted(item.utility["pinner"] for item in with_prior)[::-1]
