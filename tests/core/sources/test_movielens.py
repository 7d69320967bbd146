"""MovieLens-100K from the recbole wheel, mapped onto the event schema."""

from __future__ import annotations

import datetime

import pandas as pd

from core.sources.movielens import load_movielens_100k
from core.world import SCHEMA, TABLES, World


def test_counts(movielens: World) -> None:
    actions = movielens.events["action"].value_counts()
    assert len(movielens.users) == 943
    assert len(movielens.pins) == 1682
    assert actions["impression"] == 100_000
    assert actions["click"] == 100_000
    assert actions["save"] == 55_375  # ratings of 4 and 5
    assert set(actions.index) == {"impression", "click", "save"}


def test_tables_follow_the_schema(movielens: World) -> None:
    for table in TABLES:
        frame = movielens.table(table)
        assert {c: str(d) for c, d in frame.dtypes.items()} == SCHEMA[table], table


def test_last_rating_lands_the_day_before_end_date(movielens: World) -> None:
    assert movielens.events["ts"].max().date() == datetime.date(2026, 10, 31)


def test_shift_is_whole_days() -> None:
    earlier = load_movielens_100k(end_date=datetime.date(2026, 1, 1))
    later = load_movielens_100k(end_date=datetime.date(2026, 1, 11))
    gap = later.events["ts"] - earlier.events["ts"]
    assert (gap == pd.Timedelta(days=10)).all()


def test_event_ids_follow_time_then_movie(movielens: World) -> None:
    events = movielens.events
    assert events["event_id"].is_monotonic_increasing and events["event_id"].is_unique
    clicks = events[events["action"] == "click"]
    order = clicks.sort_values(["ts", "pin_id", "user_id"], kind="stable")
    assert order["event_id"].is_monotonic_increasing


def test_references_resolve(movielens: World) -> None:
    assert movielens.events["user_id"].isin(movielens.users["user_id"]).all()
    assert movielens.events["pin_id"].isin(movielens.pins["pin_id"]).all()
    assert movielens.board_pins["board_id"].isin(movielens.boards["board_id"]).all()
    assert movielens.board_pins["pin_id"].isin(movielens.pins["pin_id"]).all()
    first = movielens.events.groupby("user_id")["ts"].min()
    signup = movielens.users.set_index("user_id")["signup_at"]
    assert signup[first.index].equals(first.rename("signup_at"))


def test_boards_are_genres_of_saved_movies(movielens: World) -> None:
    edges = movielens.board_pins.merge(movielens.boards, on="board_id").merge(
        movielens.pins[["pin_id", "description"]], on="pin_id"
    )
    genres = edges["description"].str.split(", ")
    assert all(name in listed for name, listed in zip(edges["name"], genres, strict=True))
    assert not movielens.boards.duplicated(["user_id", "name"]).any()
    saves = movielens.events[movielens.events["action"] == "save"]
    assert set(zip(edges["user_id"], edges["pin_id"], strict=True)) == set(
        zip(saves["user_id"], saves["pin_id"], strict=True)
    )
