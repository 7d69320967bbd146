"""Stored utility weights and experiment arms: SQL, arm assignment and the admin API on the embedded Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from sql.migrate import migrated_engine
from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from models.utility import UtilityWeights
from service.app import create_app
from service.experiments import assign_arm, bucket, weights_for
from sql.utility_weights import (
    DEFAULT_WEIGHTS,
    Arm,
    TrafficExceededError,
    delete_arm,
    get_weights,
    list_arms,
    put_arm,
    put_weights,
)
from tests.conftest import corkboard

ADMIN_KEY, ADMIN = new_api_key("operator", [Scope.READ, Scope.ADMIN])
READER_KEY, READER = new_api_key("reader", [Scope.READ])
BOOST = {"creator": 1.5, "merchant": 0.0, "ad": 0.25}


# --- SQL, each test in a transaction that is rolled back ---------------------------------------


@pytest.fixture()
def conn(session_data_dir):
    with migrated_engine().connect() as connection:
        yield connection
        connection.rollback()


def test_the_seeded_default_equals_the_code_defaults(conn) -> None:
    assert get_weights(conn, name=DEFAULT_WEIGHTS) == UtilityWeights()
    assert get_weights(conn, name="no-such-set") is None


def test_weights_round_trip_and_replace(conn) -> None:
    put_weights(conn, name="trial", weights=UtilityWeights(**BOOST))
    put_weights(conn, name="trial", weights=UtilityWeights(creator=2, merchant=1, ad=0))
    assert get_weights(conn, name="trial") == UtilityWeights(creator=2, merchant=1, ad=0)


@pytest.mark.parametrize("value", ["-0.1", "'NaN'", "'Infinity'"])
def test_the_table_rejects_negative_and_non_finite_weights(conn, value: str) -> None:
    with pytest.raises(IntegrityError, match="check constraint"):
        conn.execute(text(f"INSERT INTO utility_weights (name, creator, merchant, ad) VALUES ('bad', {value}, 0, 0)"))


def test_arms_round_trip_and_traffic_cannot_exceed_one(conn) -> None:
    put_arm(conn, name="b-ads", weights=UtilityWeights(ad=1), traffic=0.3)
    put_arm(conn, name="a-creators", weights=UtilityWeights(**BOOST), traffic=0.2)
    put_arm(conn, name="b-ads", weights=UtilityWeights(ad=2), traffic=0.5)  # replaces, does not add
    assert list_arms(conn) == [
        Arm("a-creators", UtilityWeights(**BOOST), 0.2),
        Arm("b-ads", UtilityWeights(ad=2), 0.5),
    ]
    assert delete_arm(conn, name="a-creators") and not delete_arm(conn, name="a-creators")
    assert get_weights(conn, name="arm:a-creators") is None  # the arm's weight set went with it
    with pytest.raises(TrafficExceededError, match="> 1"):
        put_arm(conn, name="c-more", weights=UtilityWeights(), traffic=0.6)


# --- arm assignment ------------------------------------------------------------------------------

ARMS = [Arm("treatment-b", UtilityWeights(ad=1), 0.3), Arm("treatment-a", UtilityWeights(creator=1), 0.2)]


def test_assignment_is_deterministic_and_ignores_arm_order() -> None:
    first = [assign_arm(user, ARMS, "s") for user in range(2_000)]
    assert first == [assign_arm(user, ARMS[::-1], "s") for user in range(2_000)]
    assert all(0 <= bucket(user, "s") < 1 for user in range(2_000))
    reshuffled = [assign_arm(user, ARMS, "another salt") for user in range(2_000)]
    assert first != reshuffled


def test_arms_get_their_traffic_share_of_users() -> None:
    users = range(10_000)
    names = [getattr(assign_arm(user, ARMS, "shares"), "name", None) for user in users]
    shares = {name: names.count(name) / len(users) for name in ("treatment-a", "treatment-b", None)}
    # Binomial standard error at 10k users is at most 0.005; allow four of them.
    assert shares == pytest.approx({"treatment-a": 0.2, "treatment-b": 0.3, None: 0.5}, abs=0.02)


def test_users_outside_every_arm_get_the_default() -> None:
    default = UtilityWeights(creator=0.7)
    assert weights_for(7, default=default, arms=[]) == (default, None)
    assert assign_arm(7, [Arm("off", UtilityWeights(), 0.0)], "s") is None
    everyone = Arm("everyone", UtilityWeights(ad=3), 1.0)
    assert weights_for(7, default=default, arms=[everyone]) == (everyone.weights, "everyone")


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(materialized_tiny) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client
    # Leave the session's database as the migration seeded it for the modules that follow.
    with migrated_engine().begin() as connection:
        put_weights(connection, name=DEFAULT_WEIGHTS, weights=UtilityWeights())
        for arm in list_arms(connection):
            delete_arm(connection, name=arm.name)


@pytest.fixture()
def admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Headers carrying an admin key, configured through CORKBOARD_API_KEYS (beside a reader's) for this test only."""
    monkeypatch.setenv("CORKBOARD_API_KEYS", f"{ADMIN.entry()}, {READER.entry()}")
    get_settings.cache_clear()
    yield {"X-API-Key": ADMIN_KEY}
    monkeypatch.undo()
    get_settings.cache_clear()


def test_get_returns_the_seeded_defaults_publicly(client) -> None:
    response = client.get("/v1/utility-weights")
    assert response.status_code == 200
    assert response.json() == {"default": UtilityWeights().as_dict(), "arms": []}


@pytest.mark.parametrize(
    ("headers", "detail"), [({}, "missing X-API-Key"), ({"X-API-Key": "wrong"}, "wrong X-API-Key")]
)
def test_changes_without_the_right_key_are_401(client, admin, headers: dict[str, str], detail: str) -> None:
    for method, path, body in (
        ("PUT", "/v1/utility-weights", BOOST),
        ("PUT", "/v1/utility-weights/arms/boost", {"weights": BOOST, "traffic": 0.5}),
        ("DELETE", "/v1/utility-weights/arms/boost", None),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert detail in response.json()["detail"]
    assert client.get("/v1/utility-weights").json()["default"] == UtilityWeights().as_dict()


def test_a_key_without_the_admin_scope_is_refused(client, admin) -> None:
    response = client.put("/v1/utility-weights", json=BOOST, headers={"X-API-Key": READER_KEY})
    assert response.status_code == 403 and "'reader' lacks the admin scope" in response.json()["detail"]
    assert client.put("/v1/utility-weights", json=BOOST, headers={"X-API-Key": "change-me"}).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        '{"creator": -1, "merchant": 0, "ad": 0}',
        '{"creator": NaN, "merchant": 0, "ad": 0}',
        '{"creator": 1e999, "merchant": 0, "ad": 0}',
        '{"creator": "lots", "merchant": 0, "ad": 0}',
        '{"creator": 1, "merchant": 0}',
        '{"creator": 1, "merchant": 0, "ad": 0, "pinner": 2}',
        "not json",
    ],
)
def test_bad_bodies_are_422(client, admin, body: str) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    response = client.put("/v1/utility-weights", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_put_with_the_key_changes_what_get_returns(client, admin) -> None:
    response = client.put("/v1/utility-weights", json=BOOST, headers=admin)
    assert response.status_code == 200
    assert response.json()["default"] == BOOST
    assert client.get("/v1/utility-weights").json()["default"] == BOOST
    with migrated_engine().connect() as connection:
        assert get_weights(connection, name=DEFAULT_WEIGHTS) == UtilityWeights(**BOOST)


def test_arms_round_trip_through_the_api(client, admin) -> None:
    arm_path = "/v1/utility-weights/arms/creator-boost"
    put = client.put(arm_path, json={"weights": BOOST, "traffic": 0.4}, headers=admin)
    assert put.status_code == 200
    assert put.json()["arms"] == [{"name": "creator-boost", "weights": BOOST, "traffic": 0.4}]
    too_much = client.put("/v1/utility-weights/arms/ads", json={"weights": BOOST, "traffic": 0.7}, headers=admin)
    assert too_much.status_code == 409 and "> 1" in too_much.json()["detail"]
    assert [arm["name"] for arm in client.get("/v1/utility-weights").json()["arms"]] == ["creator-boost"]
    for path, body in (
        ("/v1/utility-weights/arms/-bad", {"weights": BOOST, "traffic": 0.1}),
        (arm_path, {"weights": BOOST, "traffic": 1.5}),
        (arm_path, {"weights": {"creator": -1, "merchant": 0, "ad": 0}, "traffic": 0.1}),
    ):
        assert client.put(path, json=body, headers=admin).status_code == 422, (path, body)
    assert client.delete(arm_path, headers=admin).status_code == 204
    assert client.delete(arm_path, headers=admin).status_code == 404
    assert client.get("/v1/utility-weights").json()["arms"] == []


@pytest.fixture(scope="module")
def user_and_pin(materialized_tiny) -> tuple[int, int]:
    """The most active user, and a pin of the catalogue."""
    user_id = int(corkboard("users", "--limit", "1").stdout.split()[0])
    with migrated_engine().connect() as connection:
        return user_id, connection.execute(text("SELECT min(pin_id) FROM pins")).scalar_one()


def surface_page(surface: str, user_id: int, pin_id: int) -> tuple[str, dict[str, object]]:
    """Path and parameters of a page of ``surface`` personalized for ``user_id``."""
    return {
        "homefeed": (f"/v1/users/{user_id}/recommendations", {}),
        "related": (f"/v1/pins/{pin_id}/related", {"user_id": user_id}),
        "search": ("/v1/search", {"q": "puppy", "user_id": user_id}),
    }[surface]


def served(client: TestClient, path: str, params: dict[str, object]) -> tuple[dict[str, float], str | None]:
    body = client.get(path, params=params).json()
    assert body["degraded_sources"] == [], body["degraded_sources"]
    return body["weights"], body["arm"]


@pytest.mark.parametrize("surface", ["homefeed", "related", "search"])
def test_every_surface_serves_the_stored_weights_and_arms(client, admin, user_and_pin, surface: str) -> None:
    path, params = surface_page(surface, *user_and_pin)
    assert client.put("/v1/utility-weights", json=BOOST, headers=admin).status_code == 200
    assert served(client, path, params) == (BOOST, None)
    everyone = {"creator": 0.0, "merchant": 0.0, "ad": 2.0}
    client.put("/v1/utility-weights/arms/everyone", json={"weights": everyone, "traffic": 1.0}, headers=admin)
    try:
        assert served(client, path, params) == (everyone, "everyone")
        # An explicit override wins: it replaces the weights it names in the stored default.
        assert served(client, path, {**params, "weights": "creator=0.5"}) == ({**BOOST, "creator": 0.5}, None)
        if "user_id" in params:  # anonymous pages are in no arm
            assert served(client, path, {k: v for k, v in params.items() if k != "user_id"}) == (BOOST, None)
    finally:
        assert client.delete("/v1/utility-weights/arms/everyone", headers=admin).status_code == 204


def test_the_cli_serves_the_stored_weights_with_its_override(client, admin, user_and_pin) -> None:
    assert client.put("/v1/utility-weights", json=BOOST, headers=admin).status_code == 200
    page = json.loads(corkboard("related", str(user_and_pin[1]), "--k", "3", "--weights", "ad=0").stdout)
    assert (page["weights"], page["arm"]) == ({**BOOST, "ad": 0.0}, None)


def test_the_routes_are_documented(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/utility-weights", "/v1/utility-weights/arms/{arm}"} <= set(paths)
    assert paths["/v1/utility-weights"]["put"]["security"] and paths["/v1/utility-weights"]["get"]["security"]
