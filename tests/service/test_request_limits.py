"""Requests that would cost the server: bodies over the limit, bodies of callers without a key,
weights that overflow a score, and long inputs echoed back; on the tiny world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from models.utility import UtilityWeights
from service.app import create_app
from service.served_weights import WeightsOverride
from sql.migrate import migrated_engine
from sql.utility_weights import DEFAULT_WEIGHTS, put_weights

ADMIN_KEY, ADMIN = new_api_key("operator", [Scope.READ, Scope.ADMIN])
PAGE = "/v1/users/987654321/recommendations"
WEIGHTS = {"creator": 0.3, "merchant": 0.2, "ad": 0.2}


@pytest.fixture(scope="module")
def client(materialized_tiny) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        settings = get_settings().model_copy(update={"api_keys": (ADMIN,)})
        test_client.app.dependency_overrides[get_settings] = lambda: settings
        yield test_client
    with migrated_engine().begin() as conn:  # leave the seeded weights for the modules that follow
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=UtilityWeights())


def admin(**headers: str) -> dict[str, str]:
    return {"X-API-Key": ADMIN_KEY, "Content-Type": "application/json", **headers}


def over_the_limit() -> bytes:
    """A JSON body one byte over CORKBOARD_MAX_BODY_BYTES."""
    limit = get_settings().max_body_bytes
    padding = limit + 1 - len(b'{"creator": 0.3, "merchant": 0.2, "ad": 0.2, "x": ""}')
    return b'{"creator": 0.3, "merchant": 0.2, "ad": 0.2, "x": "' + b" " * padding + b'"}'


def test_bodies_over_the_limit_are_413_declared_or_streamed(client):
    body = over_the_limit()
    assert len(body) == get_settings().max_body_bytes + 1
    assert client.put("/v1/utility-weights", content=body, headers=admin()).status_code == 413
    streamed = (body[start : start + 1000] for start in range(0, len(body), 1000))  # chunked: no Content-Length
    assert client.put("/v1/utility-weights", content=streamed, headers=admin()).status_code == 413
    assert client.put("/v1/utility-weights", json=WEIGHTS, headers=admin()).status_code == 200


def test_a_caller_without_a_valid_key_is_refused_before_its_body_is_read(client):
    read: list[bytes] = []

    def body() -> Iterator[bytes]:
        read.append(b"not json")
        yield b"not json"

    for headers in ({"Content-Type": "application/json"}, {"X-API-Key": "guess", "Content-Type": "application/json"}):
        response = client.put("/v1/utility-weights", content=body(), headers=headers)
        assert response.status_code == 401  # not 422: the key before the body
    assert read == []
    assert client.post("/v1/admin/reload", content=body()).status_code == 401 and read == []
    assert client.put("/v1/utility-weights", content=b"not json", headers=admin()).status_code == 422


@pytest.mark.parametrize("weights", ["creator=1e308", "ad=1e400", "merchant=100.01", "creator=nan", "ad=-0"])
def test_weights_that_could_overflow_a_score_are_422(client, weights: str):
    response = client.get(PAGE, params={"weights": weights})
    if weights == "ad=-0":  # -0 is 0: allowed
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert "must be a finite number from 0 to 100" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("creator", ["1e308", "100.5", "NaN", "Infinity"])
def test_put_bodies_with_huge_or_non_finite_weights_are_422(client, creator: str):
    body = f'{{"creator": {creator}, "merchant": 0, "ad": 0}}'
    assert client.put("/v1/utility-weights", content=body, headers=admin()).status_code == 422
    arm = f'{{"weights": {body}, "traffic": 0.1}}'
    assert client.put("/v1/utility-weights/arms/huge", content=arm, headers=admin()).status_code == 422


def test_the_largest_weight_serves_a_finite_page(client):
    page = client.get(PAGE, params={"weights": "creator=100,merchant=100,ad=100"})
    assert page.status_code == 200
    assert all(isinstance(item["score"], float) for item in page.json()["items"])  # never null (inf)
    largest = {"creator": 100, "merchant": 0, "ad": 0}
    assert client.put("/v1/utility-weights", json=largest, headers=admin()).status_code == 200


def test_long_weights_are_refused_and_not_echoed_whole(client):
    long_text = "creator=1," * 1_000
    response = client.get(PAGE, params={"weights": long_text})
    assert response.status_code == 422 and len(response.content) < 1_000
    unknown = "x" * 150 + "=1"  # under the length bound: refused by the parser, quoted cut short
    response = client.get(PAGE, params={"weights": unknown})
    assert response.status_code == 422 and len(response.content) < 1_000


def test_an_override_built_in_code_is_bounded_too():
    for values in ({"creator": 1e308}, {"ad": float("inf")}, {"charity": 1.0}):
        with pytest.raises(ValueError):
            WeightsOverride(values)
    assert WeightsOverride.parse("creator=100").values == {"creator": 100.0}
