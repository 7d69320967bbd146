"""Sampled negatives: added only when the log lacks unengaged impressions, never a pin the user had
engaged with by then, as many as asked, the same for a seed, drawn by popularity before the day."""

import numpy as np
import pandas as pd
import pytest

from models.ranker_config import ACTIONS
from models.sampled_negatives import sample_negatives, with_sampled_negatives

DAY = pd.Timestamp("2026-02-01", tz="UTC")
PINS = np.arange(1, 41)


def _impressions(rows: list[tuple[int, int, pd.Timestamp, int]]) -> pd.DataFrame:
    """Logged impressions (user, pin, time, click), saves and the rest unlabelled."""
    frame = pd.DataFrame(rows, columns=["user_id", "pin_id", "event_timestamp", "click"])
    return frame.assign(position=np.arange(len(frame)) % 7, save=frame["click"], long_click=0, hide=0)


def _engagements(rows: list[tuple[int, int, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "pin_id", "ts"]).assign(action="click")


def _all_clicked_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three users, each clicking every pin it was shown; user 1 has clicked pins 1-30 by day 2."""
    history = [(1, pin, DAY - pd.Timedelta(days=3)) for pin in range(1, 31)]
    history += [(2, pin, DAY + pd.Timedelta(hours=20)) for pin in (5, 6, 7)]  # later the same day
    shown = [(user, pin, DAY + pd.Timedelta(hours=user), 1) for user in (1, 2, 3) for pin in (8, 9)]
    clicks = [(user, pin, ts) for user, pin, ts, _ in shown]
    return _impressions(shown), _engagements(history + clicks)


def test_no_negatives_where_the_log_holds_enough_unengaged_impressions():
    impressions = _impressions([(1, pin, DAY, int(pin % 10 != 0)) for pin in range(1, 21)])  # 10% unclicked
    sampling = with_sampled_negatives(impressions, _engagements([]), PINS, actions=ACTIONS, seed=0)
    assert sampling.sampled == 0 and sampling.impressions is impressions
    assert "none sampled" in sampling.reason


def test_k_negatives_per_impression_labelled_zero_at_its_user_time_and_position():
    impressions, engagements = _all_clicked_log()
    sampling = with_sampled_negatives(impressions, engagements, PINS, actions=ACTIONS, seed=0, per_impression=5)
    assert sampling.sampled == 5 * len(impressions) and len(sampling.impressions) == 6 * len(impressions)
    pd.testing.assert_frame_equal(sampling.impressions.iloc[: len(impressions)], impressions)
    negatives = sampling.impressions.iloc[len(impressions) :]
    assert not negatives[list(ACTIONS)].to_numpy().any()
    source = impressions.loc[impressions.index.repeat(5)].reset_index(drop=True)
    for column in ("user_id", "event_timestamp", "position"):
        np.testing.assert_array_equal(negatives[column].to_numpy(), source[column].to_numpy())
    assert negatives["pin_id"].isin(PINS).all()


def test_no_sampled_pin_was_engaged_by_its_user_by_the_end_of_the_impressions_day():
    impressions, engagements = _all_clicked_log()
    negatives = sample_negatives(impressions, engagements, PINS, actions=ACTIONS, per_impression=50, seed=3)
    engaged = set(zip(engagements["user_id"], engagements["pin_id"]))
    assert not any((user, pin) in engaged for user, pin in zip(negatives["user_id"], negatives["pin_id"]))
    assert negatives.loc[negatives["user_id"] == 1, "pin_id"].gt(30).all()
    assert len(negatives) == 50 * len(impressions)


def test_the_same_seed_draws_the_same_pins_and_another_seed_others():
    impressions, engagements = _all_clicked_log()
    draw = lambda seed: sample_negatives(impressions, engagements, PINS, actions=ACTIONS, per_impression=4, seed=seed)
    pd.testing.assert_frame_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7)["pin_id"], draw(8)["pin_id"])


def test_pins_are_drawn_in_proportion_to_their_engagements_before_the_day():
    popular = [(user, 40, DAY - pd.Timedelta(days=1)) for user in range(100, 199)]  # pin 40: 99 + 1 of 139
    today = [(user, 39, DAY) for user in range(200, 400)]  # the impression's own day: not yet popular
    impressions = _impressions([(1, 1, DAY + pd.Timedelta(hours=1), 1)] * 20)
    negatives = sample_negatives(
        impressions, _engagements(popular + today), PINS, actions=ACTIONS, per_impression=100, seed=0
    )
    shares = negatives["pin_id"].value_counts(normalize=True)
    assert shares[40] == pytest.approx(100 / 139, abs=0.03)
    assert shares.get(39, 0.0) == pytest.approx(1 / 139, abs=0.01)
