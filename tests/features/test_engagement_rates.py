"""Engagement snapshots against counts and smoothed rates worked out by hand."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from features import engagement_rates
from features.engagement_rates import (
    ENGAGEMENT_FEATURES,
    beta_prior,
    count_feature_names,
    engagement_defaults,
    engagement_snapshot_blocks,
    engagement_snapshots,
    global_rates,
)

# Every action has global rate 1/5 in event_log; strength 20 gives a = 4, b = 16.
A, AB = 4.0, 20.0


def day_row(snapshots: pd.DataFrame, key: str, entity_id: int, day: str) -> pd.Series:
    """The snapshot of ``day``, stamped with the midnight that ends it."""
    stamp = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    match = snapshots[(snapshots[key] == entity_id) & (snapshots["event_timestamp"] == stamp)]
    assert len(match) == 1, f"no single snapshot of {key}={entity_id} on {day}"
    return match.iloc[0]


def test_beta_prior_mean_and_strength() -> None:
    assert beta_prior(2, 20, 20.0) == pytest.approx((2.0, 18.0))
    assert beta_prior(0, 0, 20.0) == (0.0, 20.0)


def test_global_rates_are_per_impression(event_log: pd.DataFrame) -> None:
    assert global_rates(event_log) == pytest.approx(
        {"click": 0.2, "save": 0.2, "long_click": 0.2, "hide": 0.2}
    )


def test_columns_and_dtypes(event_log: pd.DataFrame) -> None:
    snapshots = engagement_snapshots(event_log, "pin")
    assert list(snapshots.columns) == ["pin_id", "event_timestamp", *ENGAGEMENT_FEATURES]
    assert str(snapshots["event_timestamp"].dtype) == "datetime64[ns, UTC]"
    assert snapshots["pin_id"].dtype == "int64"
    assert (snapshots[count_feature_names()].dtypes == "int64").all()


def test_first_day_counts_and_smoothed_rates(event_log: pd.DataFrame) -> None:
    row = day_row(engagement_snapshots(event_log, "pin"), "pin_id", 1, "2024-01-01")
    assert (row["impressions_7d"], row["clicks_7d"], row["saves_7d"]) == (2, 1, 0)
    assert row["click_rate_7d"] == pytest.approx((1 + A) / (2 + AB))
    assert row["save_rate_7d"] == pytest.approx(A / (2 + AB))


def test_snapshot_excludes_events_after_its_day(event_log: pd.DataFrame) -> None:
    # Jan 7 ends at Jan 8 00:00; the impression and save stamped exactly then are Jan 8's.
    row = day_row(engagement_snapshots(event_log, "pin"), "pin_id", 1, "2024-01-07")
    assert (row["impressions_7d"], row["clicks_7d"], row["saves_7d"]) == (3, 1, 0)
    assert row["click_rate_7d"] == pytest.approx((1 + A) / (3 + AB))


def test_seven_day_window_edges(event_log: pd.DataFrame) -> None:
    snapshots = engagement_snapshots(event_log, "pin")
    # Jan 8's 7-day window is Jan 2 .. Jan 8: Jan 1, exactly 7 days before, is out; 30 days keep it.
    row = day_row(snapshots, "pin_id", 1, "2024-01-08")
    assert (row["impressions_7d"], row["clicks_7d"], row["saves_7d"]) == (2, 0, 1)
    assert (row["impressions_30d"], row["clicks_30d"], row["saves_30d"]) == (4, 1, 1)
    assert row["click_rate_7d"] == pytest.approx(A / (2 + AB))
    assert row["save_rate_7d"] == pytest.approx((1 + A) / (2 + AB))
    assert row["click_rate_30d"] == pytest.approx((1 + A) / (4 + AB))
    # Jan 6 still holds Jan 1 (window Dec 31 .. Jan 6) though nothing happened that day.
    quiet = day_row(snapshots, "pin_id", 1, "2024-01-06")
    assert (quiet["impressions_7d"], quiet["clicks_7d"]) == (2, 1)


def test_rows_start_at_first_event_and_end_with_the_log(event_log: pd.DataFrame) -> None:
    snapshots = engagement_snapshots(event_log, "pin")
    days = snapshots.groupby("pin_id")["event_timestamp"].agg(["min", "max", "size"])
    assert days.loc[2, "min"] == pd.Timestamp("2024-01-04", tz="UTC")
    assert days.loc[2, "max"] == pd.Timestamp("2024-01-09", tz="UTC")
    assert days["size"].to_dict() == {1: 8, 2: 6}
    row = day_row(snapshots, "pin_id", 2, "2024-01-03")
    assert (row["impressions_7d"], row["hides_7d"], row["long_clicks_7d"]) == (1, 1, 1)
    assert row["hide_rate_7d"] == pytest.approx((1 + A) / (1 + AB))


def test_quiet_entities_drop_out_after_thirty_days(make_events: Callable) -> None:
    events = make_events(
        [(1, 1, "impression", "2024-01-01 12:00"), (1, 2, "impression", "2024-03-01 12:00")]
    )
    pin_one = engagement_snapshots(events, "pin").query("pin_id == 1")
    assert len(pin_one) == 30
    assert pin_one["event_timestamp"].max() == pd.Timestamp("2024-01-31", tz="UTC")
    assert pin_one["impressions_30d"].eq(1).all()


def test_user_snapshots_ignore_searches(event_log: pd.DataFrame, make_events: Callable) -> None:
    searcher_only = make_events([(9, None, "search", "2024-01-05 10:00")])
    snapshots = engagement_snapshots(pd.concat([event_log, searcher_only]), "user")
    assert 9 not in set(snapshots["user_id"])
    row = day_row(snapshots, "user_id", 1, "2024-01-02")
    assert (row["impressions_7d"], row["clicks_7d"]) == (1, 1)


def test_silent_pin_is_absent_and_one_of_one_is_smoothed(make_events: Callable) -> None:
    # Global click rate 2/20 = 0.1, so a = 2, b = 18.
    rows = [(1, 1, "impression", "2024-01-01 10:00"), (1, 1, "click", "2024-01-01 10:01")]
    rows += [(2, 2, "impression", f"2024-01-01 11:{m:02d}") for m in range(19)]
    rows += [(2, 2, "click", "2024-01-01 12:00")]
    snapshots = engagement_snapshots(make_events(rows), "pin")
    assert set(snapshots["pin_id"]) == {1, 2}
    one_of_one = snapshots.query("pin_id == 1")["click_rate_7d"].iloc[0]
    assert one_of_one == pytest.approx((1 + 2) / (1 + 20))
    assert one_of_one < 0.2


def test_prior_strength_is_a_parameter(event_log: pd.DataFrame) -> None:
    snapshots = engagement_snapshots(event_log, "pin", prior_strength=5.0)
    row = day_row(snapshots, "pin_id", 1, "2024-01-01")
    assert row["click_rate_7d"] == pytest.approx((1 + 1.0) / (2 + 5.0))


def test_defaults_are_zero_counts_and_prior_means() -> None:
    defaults = engagement_defaults({"click": 0.1, "save": 0.2, "long_click": 0.3, "hide": 0.4})
    assert set(defaults) == set(ENGAGEMENT_FEATURES)
    assert defaults["clicks_30d"] == 0.0
    assert defaults["hide_rate_7d"] == 0.4


def test_empty_log_gives_empty_snapshots(make_events: Callable) -> None:
    snapshots = engagement_snapshots(make_events([]), "pin")
    assert snapshots.empty
    assert list(snapshots.columns) == ["pin_id", "event_timestamp", *ENGAGEMENT_FEATURES]


def test_matches_a_day_by_day_recount(make_events: Callable) -> None:
    rng = np.random.default_rng(7)
    actions = ["impression", "impression", "click", "save", "long_click", "hide"]
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [
        (int(user), int(pin), str(action), str(start + pd.Timedelta(int(second), "s")))
        for user, pin, action, second in zip(
            rng.integers(5, size=400),
            rng.integers(6, size=400),
            rng.choice(actions, size=400),
            rng.integers(0, 70 * 86400, size=400),
        )
    ]
    events = make_events(rows)
    snapshots = engagement_snapshots(events, "pin").set_index(["pin_id", "event_timestamp"])
    expected = {}
    for end in pd.date_range(start + pd.Timedelta(days=1), events["ts"].max().ceil("D"), freq="D"):
        for pin_id, pin_events in events.groupby("pin_id"):
            ts = pin_events["ts"]
            last_30 = pin_events[(ts >= end - pd.Timedelta(days=30)) & (ts < end)]
            last_7 = last_30[last_30["ts"] >= end - pd.Timedelta(days=7)]
            if len(last_30):
                clicks_7d = last_7["action"].eq("click").sum()
                expected[(pin_id, end)] = (clicks_7d, last_30["action"].eq("impression").sum())
    assert set(expected) == set(snapshots.index)
    for key, (clicks_7d, impressions_30d) in expected.items():
        row = snapshots.loc[key]
        assert (row["clicks_7d"], row["impressions_30d"]) == (clicks_7d, impressions_30d)


@pytest.mark.parametrize("ids_per_block", [1, 2])
def test_blocks_hold_whole_ids_and_add_up_to_the_snapshots(
    event_log: pd.DataFrame, ids_per_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = engagement_snapshots(event_log, "user")
    monkeypatch.setattr(engagement_rates, "IDS_PER_BLOCK", ids_per_block)
    blocks = list(engagement_snapshot_blocks(event_log, "user"))
    held = [set(block["user_id"]) for block in blocks]
    assert len(blocks) == -(-3 // ids_per_block) and all(len(ids) <= ids_per_block for ids in held)
    assert set().union(*held) == {1, 2, 3} and sum(map(len, held)) == 3  # no id in two blocks
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole)
