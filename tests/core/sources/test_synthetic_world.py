"""The synthetic world: determinism, schema, integrity and the planted structure."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from core.sources.population import AGE_BUCKETS, COUNTRIES
from core.sources.synthetic import SIZES, generate_world
from core.sources.topics import TOPIC_NAMES, TOPICS
from core.sources.truth import PlantedTruth
from core.world import ACTIONS, SCHEMA, SURFACES, TABLES, World

END = datetime.date(2026, 11, 1)


def _topic_index(categories: pd.Series) -> np.ndarray:
    return pd.Series(range(len(TOPIC_NAMES)), index=TOPIC_NAMES)[categories].to_numpy()


def _impressions_clicked(events: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Impressions and whether each drew a click (matched on user, pin, surface, position)."""
    keys = ["user_id", "pin_id", "surface", "position"]
    shown = events[events["action"] == "impression"]
    clicks = events.loc[events["action"] == "click", keys].drop_duplicates()
    matched = shown.merge(clicks, on=keys, how="left", indicator=True)["_merge"]
    return shown, (matched == "both").to_numpy()


def test_topics_read_like_pinterest() -> None:
    assert 20 <= len(TOPICS) <= 30
    for name, words in TOPICS.items():
        assert 20 <= len(words) <= 40, name
        assert len(set(words)) == len(words), name
        assert all(" " not in word for word in words), name


def test_same_seed_same_world(tiny: World) -> None:
    again = generate_world("tiny", seed=0, end_date=END)
    for table in TABLES:
        pd.testing.assert_frame_equal(tiny.table(table), again.table(table))


def test_other_seed_other_world(tiny: World) -> None:
    other = generate_world("tiny", seed=1, end_date=END)
    assert not tiny.events.equals(other.events)
    assert not tiny.pins["title"].equals(other.pins["title"])


def test_tables_follow_the_schema(tiny: World) -> None:
    for table in TABLES:
        frame = tiny.table(table)
        assert {c: str(d) for c, d in frame.dtypes.items()} == SCHEMA[table], table


def test_tiny_size(tiny: World) -> None:
    size = SIZES["tiny"]
    assert len(tiny.users) == size.users
    assert len(tiny.pins) == size.pins
    assert 30_000 <= len(tiny.events) <= 60_000
    assert len(tiny.boards) >= size.users  # every user owns a board


def test_keys_are_unique_and_references_resolve(tiny: World) -> None:
    events, pins, users, boards, board_pins = (
        tiny.events,
        tiny.pins,
        tiny.users,
        tiny.boards,
        tiny.board_pins,
    )
    assert pins["pin_id"].is_unique and users["user_id"].is_unique and boards["board_id"].is_unique
    assert not board_pins.duplicated(["board_id", "pin_id"]).any()
    assert events["event_id"].is_unique and events["event_id"].is_monotonic_increasing
    assert events["ts"].is_monotonic_increasing
    assert events["user_id"].isin(users["user_id"]).all()
    assert events["pin_id"].dropna().isin(pins["pin_id"]).all()
    assert boards["user_id"].isin(users["user_id"]).all()
    assert board_pins["board_id"].isin(boards["board_id"]).all()
    assert board_pins["pin_id"].isin(pins["pin_id"]).all()
    assert set(events["action"]) == set(ACTIONS)
    assert set(events["surface"]) == set(SURFACES)


def test_times_are_consistent(tiny: World) -> None:
    events = tiny.events
    end = pd.Timestamp(END, tz="UTC")
    assert events["ts"].min() >= end - pd.Timedelta(days=SIZES["tiny"].days)
    assert events["ts"].max() < end
    created = tiny.pins.set_index("pin_id")["created_at"]
    shown = events.dropna(subset=["pin_id"])
    assert (shown["ts"].to_numpy() >= created[shown["pin_id"]].to_numpy()).all()
    saved = tiny.board_pins
    assert (saved["saved_at"].to_numpy() >= created[saved["pin_id"]].to_numpy()).all()
    assert (saved["saved_at"] < end).all()
    first_event = events.groupby("user_id")["ts"].min()
    signup = tiny.users.set_index("user_id")["signup_at"][first_event.index]
    assert (signup <= first_event).all()


def test_actions_follow_their_impression(tiny: World) -> None:
    keys = ["user_id", "pin_id", "surface", "position"]
    events = tiny.events
    shown = events[events["action"] == "impression"][keys + ["ts"]]
    acted = events[events["action"].isin(["click", "save", "long_click", "hide"])]
    paired = acted.merge(shown, on=keys, suffixes=("", "_shown"))
    lag = (paired["ts"] - paired["ts_shown"]).dt.total_seconds()
    nearest = lag[lag >= 0].groupby(paired["event_id"]).min()
    assert nearest.index.equals(pd.Index(acted["event_id"]))
    assert (nearest <= 60).all()


def test_search_rows(tiny: World) -> None:
    events = tiny.events
    searches = events[events["action"] == "search"]
    assert len(searches) > 50
    assert searches["pin_id"].isna().all() and searches["position"].isna().all()
    assert (searches["surface"] == "search").all()
    assert events["query"].notna().eq(events["surface"] == "search").all()
    vocabularies = [set(words) for words in TOPICS.values()]
    for query in searches["query"]:
        words = query.split(" ")
        assert 1 <= len(words) <= 3 and len(set(words)) == len(words)
        assert any(set(words) <= vocabulary for vocabulary in vocabularies), query


def test_positions_count_from_zero_within_a_list(tiny: World) -> None:
    shown = tiny.events[tiny.events["action"] == "impression"]
    assert shown["position"].notna().all()
    assert shown["position"].min() == 0
    assert (shown["position"] == 0).sum() > 500


def test_interest_topics_are_clicked_more(tiny_with_truth: tuple[World, PlantedTruth]) -> None:
    world, truth = tiny_with_truth
    shown, clicked = _impressions_clicked(world.events)
    topic = _topic_index(world.pins["category"])[shown["pin_id"].to_numpy(dtype=np.int64)]
    interested = truth.interest_mask()[shown["user_id"].to_numpy(), topic]
    assert interested.mean() > 0.6  # the homefeed mostly follows interests
    assert clicked[interested].mean() > 3 * clicked[~interested].mean()


def test_click_rate_falls_with_position(tiny: World) -> None:
    shown, clicked = _impressions_clicked(tiny.events)
    on_feed = (shown["surface"] == "homefeed").to_numpy()
    position = shown["position"].to_numpy(dtype=np.int64)
    top, deep = on_feed & (position <= 2), on_feed & (position >= 10)
    assert clicked[top].mean() > 1.5 * clicked[deep].mean()


def test_interests_drift_towards_a_new_topic(tiny_with_truth: tuple[World, PlantedTruth]) -> None:
    world, truth = tiny_with_truth
    feed = world.events[
        (world.events["action"] == "impression") & (world.events["surface"] == "homefeed")
    ]
    users = feed["user_id"].to_numpy()
    drift_topic = truth.users.interests.topics[users, -1]
    on_drift = (
        _topic_index(world.pins["category"])[feed["pin_id"].to_numpy(dtype=np.int64)] == drift_topic
    )
    late = (feed["ts"] >= feed["ts"].min() + (feed["ts"].max() - feed["ts"].min()) / 2).to_numpy()
    assert on_drift[late].mean() > 1.5 * on_drift[~late].mean()


def test_popularity_is_skewed(tiny: World) -> None:
    shown = tiny.events.loc[tiny.events["action"] == "impression", "pin_id"].value_counts()
    top = shown.iloc[: len(tiny.pins) // 100].sum()
    assert top > 0.08 * shown.sum()  # the top 1% of pins take well over 1% of impressions


def test_near_duplicates_share_signature_and_topic(tiny: World) -> None:
    pins = tiny.pins
    shared = pins[pins.duplicated("image_signature", keep=False)]
    assert 0.03 * len(pins) < len(shared) < 0.15 * len(pins)
    assert (shared.groupby("image_signature")["category"].nunique() == 1).all()


def test_pin_catalogue_mix(tiny: World) -> None:
    pins = tiny.pins
    assert 0.02 < pins["is_ad"].mean() < 0.09
    assert 0.06 < pins["merchant_id"].notna().mean() < 0.15
    assert set(pins["category"]) == set(TOPIC_NAMES)
    title_words = pins["title"].str.lower().str.split(" ")
    assert title_words.str.len().between(3, 5).all()
    assert pins["description"].str.split(" ").str.len().between(8, 12).all()
    vocabulary = pins["category"].map(lambda name: set(TOPICS[name]))
    assert all(set(words) <= vocab for words, vocab in zip(title_words, vocabulary, strict=True))


def test_users_speak_their_country_language(tiny: World) -> None:
    users = tiny.users
    expected = users["country"].map({country: lang for country, (_, lang) in COUNTRIES.items()})
    assert users["language"].equals(expected.astype("string"))
    assert set(users["age_bucket"]) <= set(AGE_BUCKETS)


def test_boards_hold_one_or_two_topics(tiny: World) -> None:
    edges = tiny.board_pins.merge(tiny.pins[["pin_id", "category"]], on="pin_id")
    counts = edges.groupby(["board_id", "category"]).size().sort_values(ascending=False)
    top_two = counts.groupby(level="board_id").head(2).sum()
    assert top_two > 0.9 * len(edges)


def test_end_date_moves_the_span() -> None:
    world = generate_world("tiny", seed=0, end_date=datetime.date(2025, 3, 1))
    assert world.events["ts"].max() < pd.Timestamp("2025-03-01", tz="UTC")
    assert world.events["ts"].min() >= pd.Timestamp("2025-02-15", tz="UTC")


def test_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="tiny"):
        generate_world("huge")
