"""Synthetic boards: each user's boards gather pins of one or two of the user's interests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.sources.catalogue import PinTruth
from core.sources.pin_sampler import PinSampler
from core.sources.population import UserTruth
from core.sources.topics import TOPIC_NAMES
from core.sources.words import Vocabulary, capitalized

BOARD_SUFFIXES = ("ideas", "inspo", "love", "goals", "finds", "board")


@dataclass(frozen=True)
class BoardTruth:
    """Per board (index = board_id): owner and topics."""

    owner: np.ndarray
    topic: np.ndarray
    second_topic: np.ndarray  # -1 for single-topic boards


def _board_topics(
    owner: np.ndarray, users: UserTruth, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A main topic from the owner's interests and, for about a third of boards, a second one."""
    at_start = np.zeros(len(owner))
    main = users.interests.draw_topics(owner, at_start, rng)
    other = users.interests.draw_topics(owner, at_start, rng)
    second = np.where((rng.random(len(owner)) < 0.35) & (other != main), other, -1)
    return main, second


def _board_names(main: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """'Pasta ideas' for one topic, 'Pasta & camping' for two."""
    vocabulary = Vocabulary()
    first = capitalized(vocabulary.words)[vocabulary.sample(main, 1, rng)[:, 0]]
    partner = vocabulary.words[vocabulary.sample(np.maximum(second, 0), 1, rng)[:, 0]]
    suffix = np.array(BOARD_SUFFIXES, dtype=object)[rng.integers(0, len(BOARD_SUFFIXES), len(main))]
    return np.where(second >= 0, first + " & " + partner, first + " " + suffix)


def draw_boards(
    users: UserTruth,
    pins: PinTruth,
    boards_per_user: float,
    pins_per_board: float,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, BoardTruth]:
    """Boards (at least one per user) and their saved pins, popular pins saved more often."""
    n_users = len(users.activity)
    owner = np.repeat(np.arange(n_users), 1 + rng.poisson(boards_per_user - 1, size=n_users))
    main, second = _board_topics(owner, users, rng)
    boards = pd.DataFrame(
        {
            "board_id": np.arange(len(owner), dtype=np.int64),
            "user_id": owner.astype(np.int64),
            "name": _board_names(main, second, rng),
        }
    )

    size = 1 + rng.poisson(rng.lognormal(np.log(pins_per_board) - 0.5, 1.0, len(owner)))
    board = np.repeat(np.arange(len(owner)), size)
    use_second = (second[board] >= 0) & (rng.random(len(board)) < 0.3)
    sampler = PinSampler(pins.topic, pins.popularity, len(TOPIC_NAMES))
    pin = sampler.by_topic(np.where(use_second, second[board], main[board]), rng)
    # A pin is saved after both the pin and its saver exist.
    lo = np.maximum(pins.created_ms[pin], users.signup_ms[owner[board]])
    saved = lo + (rng.random(len(board)) * (end_ms - lo)).astype(np.int64)
    board_pins = pd.DataFrame({"board_id": board, "pin_id": pin, "saved_ms": saved})
    return boards, board_pins, BoardTruth(owner=owner, topic=main, second_topic=second)
