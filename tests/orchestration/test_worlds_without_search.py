"""Worlds without search events materialize through the whole asset graph and serve every surface.

A user's folder without searches (MovieLens ratings of a slice of its users, written as CSV)
runs in the suite. The whole of MovieLens-100K runs the same checks when FULL_WORLD_TESTS=1: on
two cores its full graph takes far longer than the suite allows (PinSAGE, the ranker and the
two-tower train for many minutes on its 255k events).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey
from fastapi.testclient import TestClient

from core.database import stop_embedded_postgres
from core.sources.export import export_world
from core.sources.movielens import load_movielens_100k
from core.world import World
from corkboard.materialize import dagster_instance, materialize_world
from models.embedding_store import chance_agreement
from models.text_tower import CO_ENGAGED_PIN_TEXT
from service.app import create_app
from tests.conftest import use_data_dir

SLICE_USERS = 120  # about 13k of MovieLens' ratings: the tiny world's scale
FOLDER = "ml100k_slice_folder"
FULL_ML100K = "ml100k"


@dataclass(frozen=True)
class Served:
    """A materialized world's text index metadata and an API client over its serving state."""

    world: World
    text_index: dict
    client: TestClient


def movielens_slice(users: int) -> World:
    """MovieLens-100K's first ``users`` users with their events and boards, every movie kept."""
    world = load_movielens_100k()
    kept = world.users["user_id"].nsmallest(users)
    boards = world.boards[world.boards["user_id"].isin(kept)]
    return World(
        pins=world.pins,
        boards=boards.reset_index(drop=True),
        board_pins=world.board_pins[world.board_pins["board_id"].isin(boards["board_id"])].reset_index(drop=True),
        users=world.users[world.users["user_id"].isin(kept)].reset_index(drop=True),
        events=world.events[world.events["user_id"].isin(kept)].reset_index(drop=True),
    )


@pytest.fixture(
    scope="module",
    params=[
        FOLDER,
        pytest.param(
            FULL_ML100K,
            marks=pytest.mark.skipif(os.environ.get("FULL_WORLD_TESTS") != "1", reason="set FULL_WORLD_TESTS=1"),
        ),
    ],
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, session_data_dir: Path
) -> Iterator[Served]:
    """The world materialized as ``corkboard materialize`` does it (its function, in process: the
    whole of ml100k outlasts the command helper's time limit), on a data dir of its own, then served."""
    data_dir = tmp_path_factory.mktemp(request.param)
    use_data_dir(data_dir)
    try:
        if request.param == FOLDER:
            world, name = movielens_slice(SLICE_USERS), str(data_dir / "my_world")  # folders live under the data dir
            export_world(world, Path(name), "csv")
        else:
            world, name = load_movielens_100k(), FULL_ML100K
        assert world.events["surface"].ne("search").all()
        materialize_world(name, progress=lambda _: None)
        event = dagster_instance().get_latest_materialization_event(AssetKey("pin_text_index"))
        with TestClient(create_app()) as client:
            yield Served(world, event.asset_materialization.metadata, client)
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(data_dir / "postgres")


def _most_engaged(world: World, column: str) -> int:
    engaged = world.events[world.events["action"] == "click"]
    return int(engaged[column].value_counts().index[0])


def test_the_text_tower_learns_from_co_engaged_pin_text(served: Served) -> None:
    assert served.text_index["training_pairs_from"].value == CO_ENGAGED_PIN_TEXT
    agreement = served.text_index["topic_agreement@10"].value
    assert agreement > 2 * chance_agreement(served.world.pins["category"].to_numpy())


def test_home_feed_serves_a_full_page(served: Served) -> None:
    user_id = _most_engaged(served.world, "user_id")
    body = served.client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()
    assert body["fallback"] is None and len({item["pin_id"] for item in body["items"]}) == 10


def test_related_pins_serve_a_full_page(served: Served) -> None:
    pin_id = _most_engaged(served.world, "pin_id")
    body = served.client.get(f"/v1/pins/{pin_id}/related", params={"k": 10}).json()
    pins = [item["pin_id"] for item in body["items"]]
    assert body["fallback"] is None and len(set(pins)) == 10 and pin_id not in pins


def test_search_answers_from_the_text_index(served: Served) -> None:
    pins = served.world.pins
    title = pins.loc[pins["pin_id"] == _most_engaged(served.world, "pin_id"), "title"].item()
    body = served.client.get("/v1/search", params={"q": title, "k": 10}).json()
    assert body["fallback"] is None and len(body["items"]) == 10
    assert all("text" in item["sources"] for item in body["items"])
