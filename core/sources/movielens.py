"""MovieLens-100K, read from the installed recbole wheel and mapped onto the event schema."""

from __future__ import annotations

import csv
import datetime
import importlib.resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

from core.sources.errors import SourceError
from core.world import World, conform

INSTALL_HINT = "pip install --no-deps recbole==1.2.1"
SAVE_RATING = 4
DAY_S = 86_400
# Upper bounds of the age buckets; MovieLens also has under-18s, who land in the first.
AGE_BUCKET_LIMITS = ((25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"))


def _dataset_folder() -> Traversable:
    """The ml-100k folder inside the installed recbole package."""
    try:
        folder = importlib.resources.files("recbole") / "dataset_example" / "ml-100k"
    except ModuleNotFoundError as exc:
        raise SourceError(f"MovieLens-100K comes from the recbole wheel: {INSTALL_HINT}") from exc
    if not folder.is_dir():
        raise SourceError(f"recbole is installed but has no {folder}; reinstall: {INSTALL_HINT}")
    return folder


def _read(folder: Traversable, suffix: str) -> pd.DataFrame:
    """One atomic file, columns renamed from 'user_id:token' to 'user_id'."""
    with (folder / f"ml-100k.{suffix}").open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(
            handle, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False
        )
    return frame.rename(columns=lambda name: name.split(":")[0])


def _age_bucket(age: pd.Series) -> np.ndarray:
    """The schema's age buckets for ages in years."""
    years = age.astype(int).to_numpy()
    limits = [limit for limit, _ in AGE_BUCKET_LIMITS]
    labels = np.array([label for _, label in AGE_BUCKET_LIMITS] + ["55+"], dtype=object)
    return labels[np.searchsorted(limits, years, side="right")]


def _day_shift_s(timestamps: np.ndarray, end_date: datetime.date) -> int:
    """Whole days (in seconds) that move the last rating onto the day before end_date."""
    target_day = (end_date - datetime.date(1970, 1, 1)).days - 1
    return (target_day - int(timestamps.max()) // DAY_S) * DAY_S


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(seconds, unit="s", utc=True)


def _pins(items: pd.DataFrame, genres: pd.Series) -> pd.DataFrame:
    """Movies as pins: first genre as category, all genres as description."""
    released = pd.to_datetime(items["release_year"], format="%Y", utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "pin_id": genres.index,
            "creator_id": np.arange(len(items), dtype=np.int64),  # no studio data: one per movie
            "title": items["movie_title"].to_numpy(),
            "description": genres.str.join(", ").to_numpy(),
            "category": genres.str[0].to_numpy(),
            "image_signature": genres.index,
            "is_ad": False,
            "merchant_id": pd.NA,
            # Two movies lack a usable year ('unkonwn', 'V'): date them with the oldest.
            "created_at": released.fillna(released.min()).to_numpy(),
        }
    )


def _users(people: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """Raters as users in the US, signed up at their first rating."""
    user_id = people["user_id"].astype(np.int64)
    first_rating = ratings.groupby("user_id")["ts"].min()
    return pd.DataFrame(
        {
            "user_id": user_id,
            "country": "US",
            "language": "en",
            "age_bucket": _age_bucket(people["age"]),
            "signup_at": _utc(user_id.map(first_rating).to_numpy()),
        }
    )


def _events(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rating, in (time, item, user) order: an impression, a click and, from 4 stars, a save."""
    ordered = ratings.sort_values(["ts", "item_id", "user_id"], kind="stable", ignore_index=True)
    saved = ordered[ordered["rating"] >= SAVE_RATING]
    # A stable sort on the rating's rank keeps impression, click, save in that order.
    rows = pd.concat(
        [
            ordered.assign(action="impression"),
            ordered.assign(action="click"),
            saved.assign(action="save"),
        ]
    ).sort_index(kind="stable")
    return pd.DataFrame(
        {
            "event_id": np.arange(len(rows), dtype=np.int64),
            "user_id": rows["user_id"].to_numpy(),
            "pin_id": rows["item_id"].to_numpy(),
            "action": rows["action"].to_numpy(),
            "surface": "homefeed",
            "query": pd.NA,
            "position": pd.NA,  # MovieLens records no slate positions
            "ts": _utc(rows["ts"].to_numpy()),
        }
    )


def _boards(ratings: pd.DataFrame, genres: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One board per (user, genre) holding the user's saved movies of that genre."""
    saved = ratings[ratings["rating"] >= SAVE_RATING]
    edges = saved.assign(genre=saved["item_id"].map(genres)).explode("genre")
    keys = edges[["user_id", "genre"]].drop_duplicates().sort_values(["user_id", "genre"])
    boards = keys.assign(board_id=np.arange(len(keys), dtype=np.int64))
    edges = edges.merge(boards, on=["user_id", "genre"])
    board_pins = pd.DataFrame(
        {
            "board_id": edges["board_id"],
            "pin_id": edges["item_id"],
            "saved_at": _utc(edges["ts"].to_numpy()),
        }
    ).sort_values(["board_id", "saved_at", "pin_id"], kind="stable")
    return boards.rename(columns={"genre": "name"}), board_pins


def _ratings(folder: Traversable, end_date: datetime.date) -> pd.DataFrame:
    """user_id, item_id, rating and ts (epoch seconds, shifted towards end_date)."""
    raw = _read(folder, "inter")
    ratings = pd.DataFrame(
        {
            "user_id": raw["user_id"].astype(np.int64),
            "item_id": raw["item_id"].astype(np.int64),
            "rating": raw["rating"].astype(float),
            "ts": raw["timestamp"].astype(float).astype(np.int64),
        }
    )
    ratings["ts"] += _day_shift_s(ratings["ts"].to_numpy(), end_date)
    return ratings


def load_movielens_100k(end_date: datetime.date = datetime.date(2026, 11, 1)) -> World:
    """MovieLens-100K as a World: 943 users, 1,682 movies as pins, 100,000 ratings as events.

    Every rating is an impression plus a click; ratings of 4 or 5 also save the movie, to the
    user's board of each of its genres. All timestamps move by one whole number of days so
    the last rating falls on the day before ``end_date``: order, gaps and time of day are kept.
    Event ids count up in (timestamp, movie id, user id) order.
    """
    folder = _dataset_folder()
    ratings = _ratings(folder, end_date)
    items = _read(folder, "item")
    genres = pd.Series(
        items["class"].str.split(" ").to_numpy(), index=items["item_id"].astype(np.int64)
    )
    boards, board_pins = _boards(ratings, genres)
    return World(
        pins=conform("pins", _pins(items, genres)),
        boards=conform("boards", boards),
        board_pins=conform("board_pins", board_pins),
        users=conform("users", _users(_read(folder, "user"), ratings)),
        events=conform("events", _events(ratings)),
    )
