"""What the OpenAPI document promises, the service does, without a loaded world: the ``weights``
pattern is exactly what the surfaces take, a 405 names every method of its path, the read routes'
key is optional in the document exactly when the settings open reads, and weight bodies are numbers."""

from __future__ import annotations

import re

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.settings import Settings, get_settings
from service.app import create_app
from service.routes.utility_weights import ArmUpdate, UtilityWeightsUpdate
from service.weights_query import WEIGHTS_PATTERN, parse_weights

READ_OPERATIONS = {
    ("/v1/users/{user_id}/recommendations", "get"),
    ("/v1/pins/{pin_id}/related", "get"),
    ("/v1/search", "get"),
    ("/v1/utility-weights", "get"),
}


@settings(max_examples=200, deadline=None)
@given(st.from_regex(WEIGHTS_PATTERN, fullmatch=True))
def test_every_text_of_the_documented_pattern_is_taken(text: str) -> None:
    assert parse_weights(text) is not None


@pytest.mark.parametrize(
    "text, values",
    [
        ("creator=1.5,ad=0", {"creator": 1.5, "ad": 0.0}),
        ("ad=100,merchant=99.99,creator=0.25", {"ad": 100.0, "merchant": 99.99, "creator": 0.25}),
        ("merchant=100.00", {"merchant": 100.0}),
        ("ad=-0", {"ad": 0.0}),
    ],
)
def test_the_pattern_holds_the_documented_examples(text: str, values: dict[str, float]) -> None:
    assert re.fullmatch(WEIGHTS_PATTERN, text)
    assert parse_weights(text).values == values


@pytest.mark.parametrize(
    "text",
    ["", "0", "creator", "creator=", "creator=1,", ",creator=1", "creator=1,creator=2", "charity=1", "creator=100.5",
     "creator=101", "creator=-1", " creator=1", "creator = 1", "creator=1e1", "creator=.5", "creator=5.", "creator=+1",
     "creator=1\n", "creator=1;ad=0"],
)
def test_text_outside_the_pattern_is_422(text: str) -> None:
    assert not re.fullmatch(WEIGHTS_PATTERN, text)
    with pytest.raises(RequestValidationError):
        parse_weights(text)


@pytest.mark.parametrize(
    "path, allowed",
    [
        ("/v1/utility-weights", "GET, PUT"),  # two routes share the path
        ("/v1/utility-weights/arms/creator-boost", "DELETE, PUT"),
        ("/v1/search", "GET"),
        ("/v1/events", "POST"),
    ],
)
def test_a_405_names_every_method_of_its_path(path: str, allowed: str) -> None:
    client = TestClient(create_app())  # without its lifespan: routing needs no world
    for method in ("OPTIONS", "PATCH"):
        response = client.request(method, path)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json() == {"detail": "Method Not Allowed"}


def security_of(settings: Settings) -> dict[tuple[str, str], list[dict]]:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    document = app.openapi()
    return {
        (path, method): operation["security"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "security" in operation
    }


def test_the_read_key_is_optional_in_the_document_exactly_where_reads_are_open() -> None:
    required = [{"APIKeyHeader": []}]
    open_reads = security_of(Settings(database_url=None))
    assert {operation for operation, security in open_reads.items() if {} in security} == READ_OPERATIONS
    assert all(security == required for operation, security in open_reads.items() if operation not in READ_OPERATIONS)
    keyed = security_of(Settings(database_url="postgresql://db.example/corkboard"))
    assert set(keyed) == set(open_reads) and all(security == required for security in keyed.values())


@pytest.mark.parametrize("ad", [False, "0", None])
def test_weight_bodies_take_numbers_only(ad: object) -> None:
    with pytest.raises(ValidationError):
        UtilityWeightsUpdate.model_validate({"creator": 0, "merchant": 0.5, "ad": ad})
    with pytest.raises(ValidationError):
        ArmUpdate.model_validate({"weights": {"creator": 0, "merchant": 0, "ad": 0}, "traffic": ad})
    assert UtilityWeightsUpdate.model_validate({"creator": 0, "merchant": 0.5, "ad": 1}).to_weights().ad == 1.0
