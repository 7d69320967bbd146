"""Arm outcomes on hand-made page logs whose rates, utilities and bootstrap intervals are known."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from models.experiment_outcomes import METRICS, NO_ARM, arm_outcomes, outcomes_figure, outcomes_markdown

T0 = pd.Timestamp("2026-12-01T12:00:00Z")
# Creator 10 has two pins (size boost 1/log2(4) = 0.5), creator 20 one (1/log2(3)); pin 2 is an
# ad, pin 3 a shopping pin. Pages are served when the pins are new: freshness 1 + exp(0) = 2.
PINS = pd.DataFrame({
    "pin_id": [1, 2, 3],
    "creator_id": [10, 10, 20],
    "is_ad": [False, True, False],
    "merchant_id": [None, None, 5],
    "created_at": [T0] * 3,
})


def impressions(*pages: tuple[str, int | None, str | None, list[int]]) -> pd.DataFrame:
    rows = [
        {"request_id": request, "pin_id": pin, "user_id": user, "arm": arm, "served_at": T0}
        for request, user, arm, pins in pages
        for pin in pins
    ]
    return pd.DataFrame(rows).astype({"user_id": "Int64"})


def engagements(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["request_id", "pin_id", "action"])


LOG = impressions(
    ("r1", 1, "a", [1, 2, 3]),
    ("r2", 2, "a", [1, 2, 3]),
    ("r3", None, None, [1, 2]),  # an anonymous page, default weights
)
POSTED = engagements(
    ("r1", 1, "click"), ("r1", 1, "click"),  # posted twice: one click
    ("r1", 3, "click"),
    ("r2", 2, "save"), ("r2", 3, "hide"),
    ("r3", 2, "click"),
    ("r9", 1, "save"),  # a request never logged: no impression to join
)


def row_of(table: pd.DataFrame, arm: str) -> dict[str, object]:
    return table.set_index("arm").loc[arm].to_dict()


def test_rates_utilities_and_intervals_of_a_hand_made_log() -> None:
    table = arm_outcomes(LOG, POSTED, PINS, arms=["a", "empty"], resamples=2_000)
    assert list(table["arm"]) == [NO_ARM, "a", "empty"]
    a = row_of(table, "a")
    assert (a["users"], a["pages"], a["impressions"]) == (2, 2, 6)
    assert (a["click_rate"], a["save_rate"], a["hide_rate"]) == pytest.approx((2 / 6, 1 / 6, 1 / 6))
    # Page r1: clicks on pin 1 (creator 1 x 0.5 x 2) and pin 3 (1 x 1/log2(3) x 2, a merchant's click);
    # page r2: a save of the ad (creator 1.0, no ad click) and a hide.
    assert a["creator"] == pytest.approx((1.0 + 2 / math.log2(3) + 1.0) / 2)
    assert (a["merchant"], a["ad"]) == pytest.approx((0.5, 0.0))
    assert a["pinner"] == pytest.approx(((0.1 + 0.1) + (1.0 - 1.0)) / 2)
    # Two users with three impressions each: a resample holds user 1 twice, each once, or user 2
    # twice (1/4, 1/2, 1/4), so the click rate is 2/3, 1/3 or 0 and the 95% interval spans 0..2/3.
    assert (a["click_rate_low"], a["click_rate_high"]) == pytest.approx((0.0, 2 / 3))
    assert (a["save_rate_low"], a["save_rate_high"]) == pytest.approx((0.0, 1 / 3))
    assert (a["ad_low"], a["ad_high"]) == (0.0, 0.0)

    default = row_of(table, NO_ARM)  # one page without a user: its own unit, so no spread
    assert (default["users"], default["pages"], default["impressions"]) == (1, 1, 2)
    assert default["click_rate"] == default["click_rate_low"] == default["click_rate_high"] == 0.5
    assert default["ad"] == default["ad_low"] == default["ad_high"] == 1.0
    assert default["creator"] == pytest.approx(1.0)

    empty = row_of(table, "empty")
    assert (empty["users"], empty["pages"], empty["impressions"]) == (0, 0, 0)
    assert all(np.isnan(empty[f"{metric}{end}"]) for metric in METRICS for end in ("", "_low", "_high"))


def test_no_posted_engagements_give_zero_rates() -> None:
    table = arm_outcomes(LOG, engagements(), PINS, resamples=100)
    assert (table[[*METRICS, *(f"{m}_high" for m in METRICS)]] == 0).all().all()


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    p = successes / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def test_correlated_impressions_widen_the_interval_beyond_wilson() -> None:
    # 40 users, one page of 3 pins each: half click every pin, half none.
    log = impressions(*((f"r{user}", user, "a", [1, 2, 3]) for user in range(40)))
    clicks = engagements(*((f"r{user}", pin, "click") for user in range(20) for pin in (1, 2, 3)))
    a = row_of(arm_outcomes(log, clicks, PINS, resamples=4_000, seed=1), "a")
    assert a["click_rate"] == 0.5
    low, high = wilson(60, 120)
    # Users are the independent units: the half-width is near 1.96 x 0.5 / sqrt(40) = 0.155, about
    # sqrt(3) times Wilson's over the 120 impressions as if they were independent.
    assert a["click_rate_high"] - a["click_rate_low"] > 1.5 * (high - low)
    assert (a["click_rate_high"] - a["click_rate_low"]) / 2 == pytest.approx(0.155, abs=0.03)


def test_markdown_and_plot_show_every_arm() -> None:
    table = arm_outcomes(LOG, POSTED, PINS, arms=["empty"], resamples=100)
    markdown = outcomes_markdown(table)
    lines = markdown.splitlines()
    assert lines[0].startswith("| arm | users | pages | impressions | click_rate")
    assert len(lines) == 2 + 3 and "| empty | 0 | 0 | 0 | no impressions |" in markdown
    assert "| a | 2 | 2 | 6 | 0.3333 [0.0000, 0.6667] |" in markdown
    buffer = io.BytesIO()
    outcomes_figure(table).savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="impressions lack columns \\['served_at'\\]"):
        arm_outcomes(LOG.drop(columns="served_at"), POSTED, PINS)
