"""The utility tuner on request logs whose best constrained weights are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.page_selection import select_page
from models.utility import UtilityWeights, blend, stakeholder_utilities
from models.utility_tuner import PRIOR_COLUMN, REQUEST_COLUMNS, Thresholds, page_utilities, plot_tradeoff, tune_weights

CAP = 2  # the service's default max_pins_per_creator
BIG_OLD = {"pin_count": 1e9, "age": 1e4}  # creator utility ~3% of (save + click): an established creator
SMALL_NEW = {"pin_count": 0.0, "age": 0.0}  # creator utility 2 x (save + click): a new pin of a new creator


def candidate(
    request_id: int,
    pin_id: int,
    *,
    pin_count: float,
    age: float,
    save: float = 0.0,
    click: float = 0.0,
    is_ad: bool = False,
    creator_id: int | None = None,
    signature: int | None = None,
) -> dict[str, object]:
    return {
        "request_id": request_id, "pin_id": pin_id, "click": click, "save": save, "long_click": 0.0, "hide": 0.0,
        "is_ad": is_ad, "is_shopping": False, "creator_pin_count": pin_count, "pin_age_days": age,
        "creator_id": creator_id if creator_id is not None else pin_id, "image_signature": signature or pin_id,
    }


def utilities_of(row: dict[str, object]) -> dict[str, float]:
    frame = pd.DataFrame([row])
    values = stakeholder_utilities(
        {action: frame[action].to_numpy() for action in ("click", "save", "long_click", "hide")},
        is_ad=frame["is_ad"].to_numpy(),
        is_shopping=frame["is_shopping"].to_numpy(),
        creator_pin_count=frame["creator_pin_count"].to_numpy(),
        pin_age_days=frame["pin_age_days"].to_numpy(),
    )
    return {name: float(array[0]) for name, array in values.items()}


# Two kinds of request with one slot (k=1). Each has a pinner favourite from a big creator and a
# pin that gives the creator much more but the pinner less; the blend switches to the second pin
# once w_creator passes ~0.78 (request 0) or ~0.35 (request 1).
FAVOURITE_0 = candidate(0, 1, save=0.5, **BIG_OLD)
CREATOR_0 = candidate(0, 2, save=0.2, **SMALL_NEW)
FAVOURITE_1 = candidate(1, 3, save=0.5, **BIG_OLD)
CREATOR_1 = candidate(1, 4, save=0.25, click=0.1, **SMALL_NEW)
TWO_REQUESTS = pd.DataFrame([FAVOURITE_0, CREATOR_0, FAVOURITE_1, CREATOR_1])


def average(*rows: dict[str, object]) -> dict[str, float]:
    values = [utilities_of(row) for row in rows]
    return {name: float(np.mean([v[name] for v in values])) for name in values[0]}


def test_without_minimums_the_pinner_only_weights_win() -> None:
    result = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds())
    assert result.chosen == UtilityWeights(creator=0, merchant=0, ad=0)  # ties go to the smallest weights
    assert result.feasible_count == len(result.table) == 6**3
    assert result.chosen_utilities == pytest.approx(average(FAVOURITE_0, FAVOURITE_1))


def test_a_creator_minimum_forces_the_known_grid_point() -> None:
    favourites, one_switch, both_switch = (
        average(FAVOURITE_0, FAVOURITE_1), average(FAVOURITE_0, CREATOR_1), average(CREATOR_0, CREATOR_1)
    )
    # The minimum sits between the page sets, so only w_creator >= 0.5 reaches it, and 0.5 costs the pinner least.
    minimum = (favourites["creator"] + one_switch["creator"]) / 2
    result = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=minimum))
    assert result.chosen == UtilityWeights(creator=0.5, merchant=0, ad=0)
    assert result.chosen_utilities == pytest.approx(one_switch)
    assert result.chosen_utilities["creator"] >= minimum
    assert one_switch["pinner"] < favourites["pinner"] and one_switch["pinner"] > both_switch["pinner"]
    assert set(result.table.loc[result.table["feasible"], "w_creator"]) == {0.5, 1.0, 2.0}
    assert "most pinner utility" in result.reason


def test_relative_minimums_scale_the_unconstrained_optimum() -> None:
    favourites = average(FAVOURITE_0, FAVOURITE_1)
    same = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=1.0, relative=True))
    assert same.chosen == UtilityWeights(creator=0, merchant=0, ad=0)
    assert same.minimums["creator"] == pytest.approx(favourites["creator"])
    more = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=10.0, relative=True))
    assert more.chosen == UtilityWeights(creator=0.5, merchant=0, ad=0)


def test_unreachable_minimum_is_infeasible_with_the_reason() -> None:
    result = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=5.0))
    assert result.chosen is None and result.chosen_utilities is None
    assert result.feasible_count == 0
    assert "creator reaches at most" in result.reason and "< 5" in result.reason


def test_minimums_reachable_alone_but_not_together_are_infeasible() -> None:
    # One slot: either the creator's pin or the ad fills it, never both.
    requests = pd.DataFrame([
        candidate(0, 1, save=0.5, **BIG_OLD),
        candidate(0, 2, save=0.2, **SMALL_NEW),
        candidate(0, 3, click=0.5, is_ad=True, **BIG_OLD),
    ])
    assert tune_weights(requests, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=0.1)).chosen is not None
    assert tune_weights(requests, k=1, max_per_creator=CAP, thresholds=Thresholds(ad=0.1)).chosen is not None
    result = tune_weights(requests, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=0.1, ad=0.1))
    assert result.chosen is None
    assert "no weights reach all at once" in result.reason


def naive_page_utilities(requests: pd.DataFrame, weights: UtilityWeights, k: int) -> dict[str, float]:
    """The page of each request one at a time, as the service would fill it."""
    pages = []
    for _, group in requests.groupby("request_id", sort=False):
        utilities = stakeholder_utilities(
            {action: group[action].to_numpy() for action in ("click", "save", "long_click", "hide")},
            is_ad=group["is_ad"].to_numpy(),
            is_shopping=group["is_shopping"].to_numpy(),
            creator_pin_count=group["creator_pin_count"].to_numpy(),
            pin_age_days=group["pin_age_days"].to_numpy(),
        )
        top = select_page(
            blend(utilities, weights), signatures=group["image_signature"].to_numpy(),
            creators=group["creator_id"].to_numpy(), k=k, max_per_creator=CAP,
        )
        pages.append({name: values[top].sum() for name, values in utilities.items()})
    return {name: float(np.mean([page[name] for page in pages])) for name in pages[0]}


def random_requests(n_requests: int, n_candidates: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, n_candidates + 1, size=n_requests)  # some requests fill less than a page
    n = int(sizes.sum())
    return pd.DataFrame({
        "request_id": np.repeat(np.arange(n_requests) * 7 + 3, sizes),  # ids need not be 0..n-1
        "pin_id": np.arange(n),
        "click": rng.uniform(0, 0.5, n),
        "save": rng.uniform(0, 0.3, n),
        "long_click": rng.uniform(0, 0.2, n),
        "hide": rng.uniform(0, 0.1, n),
        "is_ad": rng.random(n) < 0.1,
        "is_shopping": rng.random(n) < 0.2,
        "creator_pin_count": rng.integers(0, 10_000, n).astype(float),
        "pin_age_days": rng.exponential(30, n),
        "creator_id": rng.integers(0, 30, n),  # a page often meets a creator's cap
        "image_signature": rng.integers(0, 300, n),  # and near-duplicates
    })


def test_pages_are_filled_as_the_service_fills_them() -> None:
    # The blend's top three: a near-duplicate of the best and a third pin of its creator, both skipped.
    best = candidate(0, 1, save=0.9, creator_id=7, signature=50, **BIG_OLD)
    duplicate = candidate(0, 2, save=0.8, creator_id=8, signature=50, **BIG_OLD)
    same_creator = [
        candidate(0, 3, save=0.7, creator_id=7, **BIG_OLD), candidate(0, 4, save=0.6, creator_id=7, **BIG_OLD)
    ]
    other = candidate(0, 5, save=0.1, **SMALL_NEW)
    requests = pd.DataFrame([best, duplicate, *same_creator, other])
    served = page_utilities(requests, weights=UtilityWeights(0, 0, 0), k=3, max_per_creator=CAP)
    assert served == pytest.approx(
        {name: 3 * value for name, value in average(best, same_creator[0], other).items()}
    )
    with pytest.raises(ValueError, match="max_per_creator"):
        page_utilities(requests, weights=UtilityWeights(), k=3, max_per_creator=0)


@pytest.mark.parametrize("weights", [UtilityWeights(), UtilityWeights(creator=2, merchant=0, ad=1)])
def test_vectorized_pages_match_ranking_each_request_alone(weights: UtilityWeights) -> None:
    requests = random_requests(40, 30, seed=1)
    served = page_utilities(requests, weights=weights, k=10, max_per_creator=CAP)
    assert served == pytest.approx(naive_page_utilities(requests, weights, 10))


def test_chosen_weights_meet_the_minimums_on_the_tuning_requests() -> None:
    requests = random_requests(60, 50, seed=2)
    free = tune_weights(requests, k=10, max_per_creator=CAP, thresholds=Thresholds())
    pinner_only, most = free.chosen_utilities, free.table.max()
    # Halfway between what pinner-only ranking gives and the most any grid point gives.
    halfway = {name: (pinner_only[name] + most[name]) / 2 for name in ("creator", "merchant")}
    thresholds = Thresholds(**halfway)
    result = tune_weights(requests, k=10, max_per_creator=CAP, thresholds=thresholds)
    assert result.chosen is not None
    achieved = naive_page_utilities(requests, result.chosen, 10)
    assert achieved["creator"] >= thresholds.creator and achieved["merchant"] >= thresholds.merchant
    feasible = result.table[result.table["feasible"]]
    assert achieved["pinner"] == pytest.approx(feasible["pinner"].max())


def test_a_few_hundred_requests_over_the_default_grid_score_every_point_as_ranking_would() -> None:
    requests = random_requests(300, 400, seed=3)
    result = tune_weights(requests, k=25, max_per_creator=CAP, thresholds=Thresholds(creator=0.5))
    assert len(result.table) == 6**3  # every point of the default grid
    assert result.chosen is not None
    for row in (0, len(result.table) // 2, len(result.table) - 1):
        weights = UtilityWeights(**{name: result.table.loc[row, f"w_{name}"] for name in ("creator", "merchant", "ad")})
        expected = naive_page_utilities(requests, weights, 25)
        assert result.table.loc[row, list(expected)].to_dict() == pytest.approx(expected)
    assert naive_page_utilities(requests, result.chosen, 25)["creator"] >= 0.5


def test_custom_grid_and_bad_inputs() -> None:
    result = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(), grid={"creator": [0, 1, 1]})
    assert sorted(result.table["w_creator"].unique()) == [0.0, 1.0] and len(result.table) == 2 * 6 * 6
    with pytest.raises(ValueError, match="charity"):
        tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(), grid={"charity": [1]})
    with pytest.raises(ValueError, match="k must be >= 1"):
        tune_weights(TWO_REQUESTS, k=0, max_per_creator=CAP, thresholds=Thresholds())
    with pytest.raises(ValueError, match="lack columns"):
        tune_weights(TWO_REQUESTS.drop(columns="hide"), k=1, max_per_creator=CAP, thresholds=Thresholds())
    with pytest.raises(ValueError, match="no logged requests"):
        tune_weights(TWO_REQUESTS.iloc[:0], k=1, max_per_creator=CAP, thresholds=Thresholds())
    assert set(REQUEST_COLUMNS) == set(TWO_REQUESTS.columns)


@pytest.mark.parametrize("creator_minimum", [0.3, 5.0])
def test_plot_tradeoff_writes_a_png(tmp_path, creator_minimum: float) -> None:
    result = tune_weights(TWO_REQUESTS, k=1, max_per_creator=CAP, thresholds=Thresholds(creator=creator_minimum))
    path = plot_tradeoff(result.table, result.chosen, tmp_path / "plots" / "tradeoff.png", minimums=result.minimums)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_similarity_prior_logged_with_a_request_fills_its_page_as_served() -> None:
    without = page_utilities(TWO_REQUESTS, weights=UtilityWeights(0.0, 0.0, 0.0), k=1, max_per_creator=CAP)
    assert without["pinner"] == pytest.approx(average(FAVOURITE_0, FAVOURITE_1)["pinner"])
    # The prior lifted each request's creator pin past its favourite: the served page held those.
    prior = pd.Series([-0.2, 0.2, -0.2, 0.2])
    served = page_utilities(
        TWO_REQUESTS.assign(**{PRIOR_COLUMN: prior}), weights=UtilityWeights(0.0, 0.0, 0.0), k=1, max_per_creator=CAP
    )
    expected = average(CREATOR_0, CREATOR_1)
    assert served["creator"] == pytest.approx(expected["creator"])
    assert served["pinner"] == pytest.approx(expected["pinner"] + 0.2)  # the pinner utility as served, prior included
