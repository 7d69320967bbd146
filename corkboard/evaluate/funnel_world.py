"""The funnel's world: each sampled user's last interaction held out, as the offline protocol
holds out its test item, with every event and board edge that would reveal it cut."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.world import World, conform
from models.leave_last_out import first_interactions, split_world

SAMPLE_SEED = 0
SAMPLED_USERS = {"demo": 1000}  # a fixed seeded sample; every other dataset evaluates all eligible users


@dataclass(frozen=True)
class HeldOut:
    """The sampled users (sorted ids), each one's held-out pin and cut time (epoch ns), the pins of
    their protocol history (``EvaluationSplit.history(user, "test")``, oldest first), and how many
    rows the cut removed, by kind."""

    user_ids: np.ndarray
    pin_ids: np.ndarray
    cut_ns: np.ndarray
    history: list[np.ndarray]
    removed: dict[str, int]

    def __len__(self) -> int:
        return len(self.user_ids)


def sampled_users(eligible: int, dataset: str) -> np.ndarray:
    """Indices (sorted) into the ``eligible`` users of the split: all of them, or the dataset's seeded sample."""
    size = SAMPLED_USERS.get(dataset)
    if size is None or size >= eligible:
        return np.arange(eligible)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(eligible, size=size, replace=False))


def hold_out(world: World, dataset: str, *, among: np.ndarray | None = None) -> tuple[World, HeldOut]:
    """``world`` without what would reveal each sampled user's held-out interaction, and what was held out.
    With ``among`` (user ids), the users held out are those of them still eligible, not the
    dataset's sample: the validation stage cuts the test stage's users once more.

    The held-out interaction is the protocol's test item (``split_world``: the last first
    click/long click/save of a pin by time, ties by pin id). For each sampled user the cut removes
    every event at or after its time (so no later event, hide or impression reveals it, and other
    interactions in the same second go too), every impression of the held-out pin (the service
    would exclude a pin it showed the user lately, which is what the generator's impression seconds
    before the click amounts to), and the edges of the user's own boards saved at or after that
    time or holding the held-out pin (as the protocol removes them)."""
    split = split_world(world)
    chosen = sampled_users(split.n_users, dataset) if among is None else np.flatnonzero(np.isin(split.user_ids, among))
    user_ids = split.user_ids[chosen]
    held_pins = split.item_ids[split.test[chosen]]
    interactions = first_interactions(world.events)
    held = pd.DataFrame({"user_id": user_ids, "pin_id": held_pins}).merge(
        interactions, on=["user_id", "pin_id"], how="left", validate="one_to_one"
    )
    cut_ns = held["ns"].to_numpy(dtype=np.int64)
    events, removed = _cut_events(world.events, user_ids, held_pins, cut_ns)
    removed["tied_interactions"] = _tied_interactions(interactions, user_ids, held_pins, cut_ns)
    board_pins, removed["board_pins"] = _cut_board_pins(world, user_ids, held_pins, cut_ns)
    history = [split.item_ids[split.history(int(user), "test")] for user in chosen]
    cut_world = World(
        pins=world.pins, boards=world.boards, users=world.users,
        board_pins=conform("board_pins", board_pins), events=conform("events", events),
    )
    return cut_world, HeldOut(user_ids, held_pins, cut_ns, history, removed)


def _sampled_rows(user_ids: np.ndarray, row_users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each row's user is sampled, and that user's index in ``user_ids`` (meaningless where not)."""
    at = np.searchsorted(user_ids, row_users).clip(0, len(user_ids) - 1)
    return user_ids[at] == row_users, at


def _cut_events(
    events: pd.DataFrame, user_ids: np.ndarray, held_pins: np.ndarray, cut_ns: np.ndarray
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The events left once each sampled user's are cut at their time, and their impressions of the held-out pin."""
    sampled, at = _sampled_rows(user_ids, events["user_id"].to_numpy(dtype=np.int64))
    after = sampled & (events["ts"].astype("int64").to_numpy() >= cut_ns[at])
    pins = events["pin_id"].fillna(-1).to_numpy(dtype=np.int64)
    shown = sampled & ~after & (events["action"].to_numpy() == "impression") & (pins == held_pins[at])
    removed = {"events_at_or_after_cut": int(after.sum()), "impressions_of_held_out_pin_before_cut": int(shown.sum())}
    return events[~(after | shown)], removed


def _tied_interactions(
    interactions: pd.DataFrame, user_ids: np.ndarray, held_pins: np.ndarray, cut_ns: np.ndarray
) -> int:
    """Other interactions of sampled users in the held-out interaction's very time, cut with it."""
    sampled, at = _sampled_rows(user_ids, interactions["user_id"].to_numpy(dtype=np.int64))
    same_time = interactions["ns"].to_numpy() == cut_ns[at]
    return int((sampled & same_time & (interactions["pin_id"].to_numpy() != held_pins[at])).sum())


def _cut_board_pins(
    world: World, user_ids: np.ndarray, held_pins: np.ndarray, cut_ns: np.ndarray
) -> tuple[pd.DataFrame, int]:
    """Board edges left once sampled owners' edges saved at or after their cut, or holding their held-out pin, go."""
    owners = world.board_pins[["board_id"]].merge(world.boards[["board_id", "user_id"]], on="board_id", how="left")
    sampled, at = _sampled_rows(user_ids, owners["user_id"].fillna(-1).to_numpy(dtype=np.int64))
    saved_ns = world.board_pins["saved_at"].astype("int64").to_numpy()
    reveal = sampled & ((saved_ns >= cut_ns[at]) | (world.board_pins["pin_id"].to_numpy() == held_pins[at]))
    return world.board_pins[~reveal], int(reveal.sum())
