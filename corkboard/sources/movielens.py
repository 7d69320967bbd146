"""MovieLens-100K, read from the installed recbole wheel and mapped onto the event schema."""

from __future__ import annotations

import csv
import datetime
import importlib.resources
from importlib.resources.abc import Traversable

import numpy as np
import pandas as pd

from corkboard.sources.errors import SourceError
from corkboard.world import World, conform

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
        frame = pd.read_csv(handle, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
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


def _pins(items: pd.DataFrame) -> pd.DataFrame:
    """Movies as pins: first genre as category, all genres as description."""
    genres = items["class"].str.split(" ")
    released = pd.to_datetime(items["release_year"], format="%Y", utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "pin_id": items["item_id"].astype(np.int64),
            "creator_id": np.arange(len(items), dtype=np.int64),  # no studio data: one per movie
            "title": items["movie_title"],
            "description": genres.str.join(", "),
            "category": genres.str[0],
            "image_signature": items["item_id"].astype(np.int64),
            "is_ad": False,
            "merchant_id": pd.NA,
            # Two movies lack a usable year ('unkonwn', 'V'): date them with the oldest.
            "created_at": released.fillna(released.min()),
        }
    )


def _events(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rating, in (time, item, user) order: an impression, a click and, from 4 stars, a save."""
    ratings = ratings.sort_values(["ts", "item_id", "user_id"], kind="stable")
    per_rating = np.where(ratings["rating"].to_numpy() >= SAVE_RATING, 3, 2)
    row = np.repeat(np.arange(len(ratings)), per_rating)
    step = np.arange(len(row)) - np.repeat(np.cumsum(per_rating) - per_rating, per_rating)
    actions = np.array(["impression", "click", "save"], dtype=object)
    return pd.DataFrame(
        {
            "event_id": np.arange(len(row), dtype=np.int64),
            "user_id": ratings["user_id"].to_numpy()[row],
            "pin_id": ratings["item_id"].to_numpy()[row],
            "action": actions[step],
            "surface": "homefeed",
            "query": pd.NA,
            "position": pd.NA,  # MovieLens records no slate positions
            "ts": _utc(ratings["ts"].to_numpy()[row]),
        }
    )


def _boards(ratings: pd.DataFrame, pins: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One board per (user, genre) holding the user's saved movies of that genre."""
    saved = ratings[ratings["rating"] >= SAVE_RATING]
    genres = pins.set_index("pin_id")["description"].str.split(", ")
    edges = saved.assign(genre=saved["item_id"].map(genres)).explode("genre")
    keys = edges[["user_id", "genre"]].drop_duplicates().sort_values(["user_id", "genre"])
    boards = keys.assign(board_id=np.arange(len(keys), dtype=np.int64))
    edges = edges.merge(boards, on=["user_id", "genre"])
    board_pins = pd.DataFrame(
        {"board_id": edges["board_id"], "pin_id": edges["item_id"], "saved_at": _utc(edges["ts"].to_numpy())}
    ).sort_values(["board_id", "saved_at", "pin_id"], kind="stable")
    return boards.rename(columns={"genre": "name"}), board_pins


def load_movielens_100k(end_date: datetime.date = datetime.date(2026, 11, 1)) -> World:
    """MovieLens-100K as a World: 943 users, 1,682 movies as pins, 100,000 ratings as events.

    Every rating is an impression plus a click; ratings of 4 or 5 also save the movie, to the
    user's board of each of its genres. All timestamps move by one whole number of days so
    the last rating falls on the day before ``end_date``: order, gaps and time of day are kept.
    """
    folder = _dataset_folder()
    ratings = _read(folder, "inter")
    ratings = pd.DataFrame(
        {
            "user_id": ratings["user_id"].astype(np.int64),
            "item_id": ratings["item_id"].astype(np.int64),
            "rating": ratings["rating"].astype(float),
            "ts": ratings["timestamp"].astype(float).astype(np.int64),
        }
    )
    ratings["ts"] += _day_shift_s(ratings["ts"].to_numpy(), end_date)
    pins = _pins(_read(folder, "item"))
    people = _read(folder, "user")
    first_rating = ratings.groupby("user_id")["ts"].min()
    user_id = people["user_id"].astype(np.int64)
    users = pd.DataFrame(
        {
            "user_id": user_id,
            "country": "US",
            "language": "en",
            "age_bucket": _age_bucket(people["age"]),
            "signup_at": _utc(user_id.map(first_rating).to_numpy()),
        }
    )
    boards, board_pins = _boards(ratings, pins)
    return World(
        pins=conform("pins", pins),
        boards=conform("boards", boards),
        board_pins=conform("board_pins", board_pins),
        users=conform("users", users),
        events=conform("events", _events(ratings)),
    )
