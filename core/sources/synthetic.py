"""The synthetic world (DESIGN.md section 3.2): deterministic by (size, seed, end_date)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.sources.activity import ActivitySettings, generate_events
from core.sources.boards import BoardTruth, draw_boards
from core.sources.catalogue import DAY_MS, draw_pins, draw_topic_vectors
from core.sources.population import draw_users
from core.sources.topics import TOPIC_NAMES
from core.sources.truth import PlantedTruth
from core.sources.utility import UtilityModel
from core.world import World, conform

DEFAULT_END_DATE = datetime.date(2026, 11, 1)


@dataclass(frozen=True)
class WorldSize:
    """How big a synthetic world is and how busy its users are."""

    users: int
    pins: int
    days: int
    creators: int
    merchants: int
    sessions_per_user: float
    impressions_per_session: float
    boards_per_user: float
    pins_per_board: float


SIZES: dict[str, WorldSize] = {
    "tiny": WorldSize(300, 2_000, 14, 150, 20, 8.0, 16.0, 3.0, 12.0),
    "demo": WorldSize(10_000, 50_000, 30, 3_000, 300, 9.0, 16.0, 4.0, 20.0),
    "large": WorldSize(100_000, 1_000_000, 30, 50_000, 3_000, 3.0, 16.0, 4.0, 24.0),
}


def _span_ms(end_date: datetime.date, days: int) -> tuple[int, int]:
    """[start, end) of the event span in epoch milliseconds, midnight UTC to midnight UTC."""
    end = datetime.datetime.combine(end_date, datetime.time(), tzinfo=datetime.UTC)
    end_ms = int(end.timestamp()) * 1000
    return end_ms - days * DAY_MS, end_ms


def _board_pins(
    drawn: pd.DataFrame,
    events: pd.DataFrame,
    boards: BoardTruth,
    n_pins: int,
    pin_topic: np.ndarray,
) -> pd.DataFrame:
    """Board edges: the drawn history plus every save event, filed on the saver's board of
    the pin's topic (else their first board); a repeated (board, pin) keeps its first save."""
    saves = events[events["action"] == "save"]
    user = saves["user_id"].to_numpy()
    pin = saves["pin_id"].to_numpy(dtype=np.int64)
    n_topics = len(TOPIC_NAMES)
    keys, first_board = np.unique(boards.owner * n_topics + boards.topic, return_index=True)
    wanted = user * n_topics + pin_topic[pin]
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    fallback = np.searchsorted(boards.owner, user)  # boards are numbered owner by owner
    board = np.where(keys[at] == wanted, first_board[at], fallback)
    saved_ms = saves["ts"].astype("int64").to_numpy() // 1_000_000  # epoch ns to ms

    board = np.concatenate([drawn["board_id"].to_numpy(), board])
    pin = np.concatenate([drawn["pin_id"].to_numpy(), pin])
    saved_ms = np.concatenate([drawn["saved_ms"].to_numpy(), saved_ms])
    edge = board * n_pins + pin
    order = np.lexsort((saved_ms, edge))
    _, first = np.unique(edge[order], return_index=True)
    keep = order[first]
    return pd.DataFrame(
        {
            "board_id": board[keep].astype(np.int64),
            "pin_id": pin[keep].astype(np.int64),
            "saved_at": pd.to_datetime(saved_ms[keep], unit="ms", utc=True),
        }
    )


def generate_world_with_truth(
    size: str = "tiny", seed: int = 0, end_date: datetime.date = DEFAULT_END_DATE
) -> tuple[World, PlantedTruth]:
    """A synthetic world and the planted truth that generated it."""
    if size not in SIZES:
        raise ValueError(f"unknown world size {size!r}; expected one of {tuple(SIZES)}")
    spec = SIZES[size]
    span = _span_ms(end_date, spec.days)
    topic_rng, pin_rng, user_rng, board_rng, event_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(5)
    )
    topic_vectors = draw_topic_vectors(topic_rng)
    pins, pin_truth = draw_pins(
        spec.pins, spec.creators, spec.merchants, span, topic_vectors, pin_rng
    )
    users, user_truth = draw_users(spec.users, span, user_rng)
    boards, drawn_edges, board_truth = draw_boards(
        user_truth, pin_truth, spec.boards_per_user, spec.pins_per_board, span[1], board_rng
    )
    truth = PlantedTruth(topic_vectors, pin_truth, user_truth, board_truth, UtilityModel(), span)
    activity = ActivitySettings(spec.sessions_per_user, spec.impressions_per_session)
    events = generate_events(truth, activity, event_rng)
    board_pins = _board_pins(drawn_edges, events, board_truth, spec.pins, pin_truth.topic)
    world = World(
        pins=conform("pins", pins),
        boards=conform("boards", boards),
        board_pins=conform("board_pins", board_pins),
        users=conform("users", users),
        events=conform("events", events),
    )
    return world, truth


def generate_world(
    size: str = "tiny", seed: int = 0, end_date: datetime.date = DEFAULT_END_DATE
) -> World:
    """A deterministic synthetic world of the named size (see SIZES)."""
    return generate_world_with_truth(size, seed, end_date)[0]
