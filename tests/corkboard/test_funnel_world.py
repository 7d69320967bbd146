"""The funnel's held-out world: what is cut for each sampled user, and the data dir it is materialized in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from corkboard.evaluate.funnel_data import MANIFEST, materialized_world, world_digest
from corkboard.evaluate.funnel_world import SAMPLED_USERS, hold_out, sampled_users
from core.sources import load_world
from core.world import World
from models.leave_last_out import first_interactions, split_world


@pytest.fixture(scope="module")
def tiny() -> World:
    return load_world("tiny")[0]


def test_the_held_out_item_is_the_protocols_test_item_and_nothing_reveals_it(tiny: World) -> None:
    cut, held = hold_out(tiny, "tiny")
    split = split_world(tiny)
    assert np.array_equal(held.user_ids, split.user_ids)  # every eligible user on tiny
    assert np.array_equal(held.pin_ids, split.item_ids[split.test])
    events = cut.events.merge(pd.DataFrame({"user_id": held.user_ids, "held": held.pin_ids, "cut": held.cut_ns}))
    assert (events["ts"].astype("int64") < events["cut"]).all()
    assert not (events["pin_id"] == events["held"]).any()  # not even an earlier impression of it
    edges = cut.board_pins.merge(cut.boards[["board_id", "user_id"]]).merge(
        pd.DataFrame({"user_id": held.user_ids, "held": held.pin_ids, "cut": held.cut_ns})
    )
    assert not (edges["pin_id"] == edges["held"]).any()
    assert (edges["saved_at"].astype("int64") < edges["cut"]).all()
    assert held.removed["events_at_or_after_cut"] + held.removed["impressions_of_held_out_pin_before_cut"] == len(
        tiny.events
    ) - len(cut.events)


def test_what_a_user_engaged_with_before_the_cut_stays(tiny: World) -> None:
    cut, held = hold_out(tiny, "tiny")
    before = first_interactions(tiny.events).merge(pd.DataFrame({"user_id": held.user_ids, "cut": held.cut_ns}))
    kept = first_interactions(cut.events).merge(pd.DataFrame({"user_id": held.user_ids}))
    assert len(kept) == int((before["ns"] < before["cut"]).sum())
    assert [len(items) for items in held.history] == before.groupby("user_id").size().sub(1).tolist()


def test_the_validation_cut_holds_out_the_protocols_validation_items_and_keeps_the_test_items_unseen(
    tiny: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SAMPLED_USERS, "tiny", 60)  # sampled, as demo is: the second cut keeps the first's users
    test_cut, test_held = hold_out(tiny, "tiny")
    validation_cut, validation_held = hold_out(test_cut, "tiny", among=test_held.user_ids)  # as run_funnel cuts it
    assert len(test_held) == 60 and len(validation_held) > 0
    assert np.isin(validation_held.user_ids, test_held.user_ids).all()
    split = split_world(tiny)
    eligible = np.isin(split.user_ids, validation_held.user_ids)
    assert np.array_equal(validation_held.pin_ids, split.item_ids[split.validation[eligible]])
    assert (validation_held.cut_ns <= test_held.cut_ns[np.isin(test_held.user_ids, validation_held.user_ids)]).all()
    events = validation_cut.events.merge(pd.DataFrame({"user_id": test_held.user_ids, "test": test_held.pin_ids}))
    assert not (events["pin_id"] == events["test"]).any()


def test_demo_is_a_fixed_sample_and_other_datasets_every_eligible_user() -> None:
    first, again = sampled_users(8000, "demo"), sampled_users(8000, "demo")
    assert len(first) == SAMPLED_USERS["demo"] and np.array_equal(first, again)
    assert np.array_equal(first, np.unique(first))
    assert np.array_equal(sampled_users(943, "ml100k"), np.arange(943))


def test_the_digest_tells_worlds_apart(tiny: World) -> None:
    cut, _ = hold_out(tiny, "tiny")
    assert world_digest(cut) == world_digest(hold_out(tiny, "tiny")[0])
    assert world_digest(cut) != world_digest(tiny)


def test_a_folder_without_the_manifest_is_refused_not_deleted(tiny: World, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("someone's")
    with pytest.raises(ValueError, match=MANIFEST):
        materialized_world(tiny, tmp_path, progress=lambda line: None)
    assert (tmp_path / "notes.txt").read_text() == "someone's"


def test_a_materialized_folder_of_the_same_world_is_reused(tiny: World, tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"digest": world_digest(tiny), "materialized": True}))
    seconds, _ = materialized_world(tiny, tmp_path, progress=lambda line: None)
    assert seconds is None
