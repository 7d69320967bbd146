"""Utility weights parsing, stakeholder utilities and the blend, on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from models.utility import MAX_WEIGHT, UtilityWeights, blend, stakeholder_utilities


def test_parse_overrides_named_weights_and_keeps_the_rest() -> None:
    parsed = UtilityWeights.parse("creator=1.5,ad=0")
    assert parsed == UtilityWeights(creator=1.5, merchant=0.2, ad=0.0)
    spaced = UtilityWeights.parse(" merchant = 2 ")
    assert spaced.as_dict() == {"creator": 0.3, "merchant": 2.0, "ad": 0.2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pinner=1", "unknown name 'pinner'"),
        ("creator=lots", "is not a number"),
        ("ad=-0.1", "finite number from 0 to 100"),
        ("ad=nan", "finite number from 0 to 100"),
        ("creator=inf", "finite number from 0 to 100"),
        ("creator=1e308", "creator=1e\\+308 must be a finite number from 0 to 100"),
        ("merchant=100.5", "must be a finite number from 0 to 100"),
        ("creator=1,,ad=0", "expected name=value"),
        ("creator=1,", "expected name=value"),
        ("", "expected name=value"),
        ("creator", "expected name=value"),
        ("creator=", "expected name=value"),
        ("creator=1,creator=2", "given twice"),
    ],
)
def test_parse_rejects_bad_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UtilityWeights.parse(text)


def test_parse_takes_the_maximum_and_quotes_long_text_cut_short() -> None:
    assert UtilityWeights.parse("creator=100,ad=0").creator == MAX_WEIGHT == 100
    text = "creator=" + "9" * 10_000
    with pytest.raises(ValueError) as refused:
        UtilityWeights.parse(text)
    assert "must be a finite number from 0 to 100" in str(refused.value)
    unknown = "x" * 10_000 + "=1"
    with pytest.raises(ValueError, match="unknown name") as refused:
        UtilityWeights.parse(unknown)
    assert len(str(refused.value)) < 200


def test_weights_are_validated_on_construction_too() -> None:
    with pytest.raises(ValueError, match="merchant"):
        UtilityWeights(merchant=-1.0)
    assert isinstance(UtilityWeights(ad=1).ad, float)


def _heads(**probs: list[float]) -> dict[str, np.ndarray]:
    return {name: np.array(values) for name, values in probs.items()}


def test_stakeholder_utilities_by_hand() -> None:
    utilities = stakeholder_utilities(
        _heads(click=[0.5, 0.2], save=[0.2, 0.4], long_click=[0.4, 0.0], hide=[0.1, 0.0]),
        is_ad=np.array([True, False]),
        is_shopping=np.array([False, True]),
        creator_pin_count=np.array([0, 6]),
        pin_age_days=np.array([0.0, 1e6]),
    )
    # pinner: 0.2 + 0.5*0.4 + 0.1*0.5 - 0.1 = 0.35;  0.4 + 0 + 0.02 - 0 = 0.42
    np.testing.assert_allclose(utilities["pinner"], [0.35, 0.42])
    # creator: (0.2+0.5) / log2(2) * (1+1) = 1.4;  (0.4+0.2) / log2(8) * 1 = 0.2
    np.testing.assert_allclose(utilities["creator"], [1.4, 0.2])
    np.testing.assert_allclose(utilities["merchant"], [0.0, 0.2])
    np.testing.assert_allclose(utilities["ad"], [0.5, 0.0])


def test_creator_freshness_decays_over_two_weeks() -> None:
    utilities = stakeholder_utilities(
        _heads(click=[0.5] * 3, save=[0.0] * 3, long_click=[0.0] * 3, hide=[0.0] * 3),
        is_ad=np.zeros(3, bool),
        is_shopping=np.zeros(3, bool),
        creator_pin_count=np.zeros(3),
        pin_age_days=np.array([0.0, 14.0, 140.0]),
    )
    np.testing.assert_allclose(utilities["creator"], 0.5 * (1 + np.exp([0.0, -1.0, -10.0])))


def test_missing_head_is_named() -> None:
    heads = _heads(click=[0.1], save=[0.1], long_click=[0.1])
    with pytest.raises(KeyError, match="hide"):
        stakeholder_utilities(
            heads,
            is_ad=np.zeros(1, bool),
            is_shopping=np.zeros(1, bool),
            creator_pin_count=np.zeros(1),
            pin_age_days=np.zeros(1),
        )


def test_blend_arithmetic() -> None:
    utilities = {
        "pinner": np.array([1.0, 0.5]),
        "creator": np.array([2.0, 0.0]),
        "merchant": np.array([0.0, 3.0]),
        "ad": np.array([1.0, 1.0]),
    }
    score = blend(utilities, UtilityWeights(creator=0.5, merchant=0.1, ad=2.0))
    np.testing.assert_allclose(score, [1.0 + 1.0 + 0.0 + 2.0, 0.5 + 0.0 + 0.3 + 2.0])
    np.testing.assert_allclose(blend(utilities, UtilityWeights(0.0, 0.0, 0.0)), utilities["pinner"])


def test_raising_the_creator_weight_promotes_creator_value_in_the_top_k() -> None:
    # Three candidates: a big creator's popular pin, and two fresh pins from small creators.
    utilities = stakeholder_utilities(
        _heads(
            click=[0.6, 0.3, 0.2], save=[0.5, 0.3, 0.2], long_click=[0.4, 0.2, 0.1], hide=[0.0] * 3
        ),
        is_ad=np.zeros(3, bool),
        is_shopping=np.zeros(3, bool),
        creator_pin_count=np.array([1e6, 0, 2]),
        pin_age_days=np.array([300.0, 0.0, 1.0]),
    )

    def top_k(weight: float, k: int = 1) -> np.ndarray:
        weights = UtilityWeights(creator=weight, merchant=0.0, ad=0.0)
        return np.argsort(-blend(utilities, weights))[:k]

    assert top_k(0.0).tolist() == [0] and top_k(2.0).tolist() == [1]
    assert utilities["creator"][top_k(2.0)].sum() > utilities["creator"][top_k(0.0)].sum()
