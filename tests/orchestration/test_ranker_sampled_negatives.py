"""A log of clicked impressions only (MovieLens writes one per rating; many users' folders log only
engagements): the tiny world without its impressions that went unclicked, materialized from a
folder, trains a ranker whose click head learns from sampled negatives, where tiny itself samples
none (test_materialized_graph)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey

from core.database import stop_embedded_postgres
from core.sources.export import export_world
from core.sources.synthetic import generate_world
from core.world import World
from corkboard.materialize import dagster_instance, materialize_world
from sql.migrate import migrated_engine
from sql.versions import active_version
from tests.conftest import use_data_dir


def clicked_impressions_only(world: World) -> World:
    """``world`` less every impression that its user did not click (the same pin the same day, as
    the ranker's labels read it), as a log of clicks alone records it."""
    events = world.events
    day = events["ts"].dt.floor("D")
    clicked = events.loc[events["action"] == "click", ["user_id", "pin_id"]].assign(day=day)
    keys = pd.MultiIndex.from_frame(clicked.drop_duplicates())
    impression = events["action"] == "impression"
    shown = pd.MultiIndex.from_frame(events.loc[impression, ["user_id", "pin_id"]].assign(day=day[impression]))
    dropped = events.index[impression][~shown.isin(keys)]
    return World(world.pins, world.boards, world.board_pins, world.users, events.drop(dropped).reset_index(drop=True))


@pytest.fixture(scope="module")
def ranker_on_clicked_impressions(
    tmp_path_factory: pytest.TempPathFactory, session_data_dir: Path
) -> Iterator[tuple[dict, dict[str, float]]]:
    """The ranker's materialization metadata and its validation AUC per head."""
    data_dir = tmp_path_factory.mktemp("clicked_only")
    use_data_dir(data_dir)
    try:
        world = clicked_impressions_only(generate_world("tiny", seed=0))
        export_world(world, data_dir / "clicked_only")  # folders live under the data dir
        materialize_world(str(data_dir / "clicked_only"), progress=lambda _: None)
        event = dagster_instance().get_latest_materialization_event(AssetKey("ranker"))
        with migrated_engine().connect() as conn:
            version = active_version(conn, kind="ranker")
        yield event.asset_materialization.metadata, version.metrics["valid_auc"]
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(data_dir / "postgres")


def test_the_filter_drops_unclicked_impressions_alone():
    world = generate_world("tiny", seed=0)
    clicked_only = clicked_impressions_only(world)
    impressions = (world.events["action"] == "impression").sum()
    kept = (clicked_only.events["action"] == "impression").sum()
    assert 0 < kept < impressions
    assert (clicked_only.events["action"] != "impression").sum() == (world.events["action"] != "impression").sum()


def test_the_click_head_learns_from_sampled_negatives(ranker_on_clicked_impressions):
    metadata, valid_auc = ranker_on_clicked_impressions
    assert metadata["sampled_negatives"].value > 0
    assert "under 5%" in metadata["sampled_negatives_reason"].value
    assert math.isfinite(valid_auc["click"]) and valid_auc["click"] > 0.5
