"""Scoped API keys stored as digests: parsing, rotation, the CLI that makes them, and who may read
what (and which error details) on the tiny world."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from core.api_keys import Scope, find_key, key_digest, new_api_key, parse_api_keys
from core.database import pooled_engine
from core.settings import Settings, get_settings
from corkboard.cli import main
from service.app import create_app
from service.database_guard import DatabaseGuard

READER_KEY, READER = new_api_key("reader", [Scope.READ])
INGEST_KEY, INGEST = new_api_key("ingest", [Scope.EVENTS])
OPERATOR_KEY, OPERATOR = new_api_key("operator", [Scope.READ, Scope.ADMIN])
PAGES = ("/v1/users/987654321/recommendations", "/v1/search?q=puppy", "/v1/utility-weights")


# --- the keys ------------------------------------------------------------------------------------


def test_entries_hold_names_scopes_and_digests_only():
    keys = parse_api_keys(f" {READER.entry()},{OPERATOR.entry()}\n{INGEST.entry()} ")
    assert keys == (READER, OPERATOR, INGEST)
    assert OPERATOR.entry() == f"operator:admin+read:{key_digest(OPERATOR_KEY)}"
    assert all(key not in entry.entry() for key, entry in ((READER_KEY, READER), (OPERATOR_KEY, OPERATOR)))
    assert parse_api_keys("") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("reader:read", "entry 1 is not name:scope"),
        (f"reader:read:{'0' * 63}", "entry 1 is not name:scope"),
        (f"reader:write:{'0' * 64}", "unknown scope 'write'"),
        (f"a:read:{'0' * 64}, a:admin:{'1' * 64}", "names 'a' twice"),
    ],
)
def test_malformed_entries_stop_the_settings(text: str, problem: str):
    with pytest.raises(ValidationError, match=problem):
        Settings(api_keys=text)


def test_keys_rotate_by_listing_old_and_new_at_once():
    old_key, old = new_api_key("ops-2026-01", [Scope.ADMIN])
    new_key, new = new_api_key("ops-2026-02", [Scope.ADMIN])
    both = Settings(api_keys=f"{old.entry()},{new.entry()}").api_keys
    assert find_key(both, old_key) == old and find_key(both, new_key) == new
    assert find_key(Settings(api_keys=new.entry()).api_keys, old_key) is None
    assert find_key(both, "not a key") is None


def test_the_cli_prints_a_key_once_and_the_entry_that_stores_its_digest(capsys):
    assert main(["api-key", "new", "--scopes", "read,admin", "--name", "ops"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].removeprefix("X-API-Key: ")
    entry = out[1].removeprefix("CORKBOARD_API_KEYS entry: ")
    (configured,) = parse_api_keys(entry)
    assert key not in entry and find_key((configured,), key) == configured
    assert (configured.name, configured.scopes) == ("ops", {Scope.READ, Scope.ADMIN})
    with pytest.raises(SystemExit):
        main(["api-key", "new", "--scopes", "read,write"])


def test_reads_are_open_only_behind_a_trusted_gateway_or_on_one_machine():
    assert Settings(database_url=None).open_reads  # the embedded database: make demo, tests
    assert not Settings(database_url="postgresql://db.example/corkboard").open_reads
    assert Settings(database_url="postgresql://db.example/corkboard", trusted_gateway=True).open_reads
    assert not Settings(database_url=None, trusted_gateway=False).open_reads


# --- who may read what, on the tiny world ------------------------------------------------------------


@pytest.fixture(scope="module")
def client(materialized_tiny) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture()
def configure(client: TestClient) -> Iterator:
    """Give the app settings with the three keys and ``trusted_gateway`` as the test asks."""

    def configured(*, trusted_gateway: bool) -> None:
        keys = (READER, INGEST, OPERATOR)
        settings = get_settings().model_copy(update={"api_keys": keys, "trusted_gateway": trusted_gateway})
        client.app.dependency_overrides[get_settings] = lambda: settings

    yield configured
    client.app.dependency_overrides.clear()


def key(value: str) -> dict[str, str]:
    return {"X-API-Key": value}


def test_without_a_trusted_gateway_pages_need_a_key_with_the_read_scope(client, configure):
    configure(trusted_gateway=False)
    for path in PAGES:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=key("guess")).status_code == 401, path
        refused = client.get(path, headers=key(INGEST_KEY))
        assert refused.status_code == 403 and "'ingest' lacks the read scope" in refused.json()["detail"], path
        assert client.get(path, headers=key(READER_KEY)).status_code == 200, path
    weights = {"creator": 0.3, "merchant": 0.2, "ad": 0.2}
    assert client.put("/v1/utility-weights", json=weights, headers=key(READER_KEY)).status_code == 403
    assert client.put("/v1/utility-weights", json=weights, headers=key(OPERATOR_KEY)).status_code == 200


def test_behind_a_trusted_gateway_pages_are_open_and_admin_routes_are_not(client, configure):
    configure(trusted_gateway=True)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert client.post("/v1/admin/reload").status_code == 401


def refused_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_messages_reach_admin_keys_only(client, configure):
    configure(trusted_gateway=True)
    serving = client.app.state.serving
    url = f"postgresql+psycopg://corkboard@127.0.0.1:{refused_port()}/corkboard"
    engine = pooled_engine(url, connect_timeout_s=2, session={"statement_timeout": "150"})
    client.app.state.serving = dataclasses.replace(serving, database=DatabaseGuard(engine, deadline_ms=5_000))
    try:
        for headers in ({}, key(READER_KEY)):
            assert client.get("/readyz", headers=headers).json()["checks"]["database"] == "unreachable"
            assert client.get("/v1/utility-weights", headers=headers).json() == {"detail": "database unavailable"}
        ready = client.get("/readyz", headers=key(OPERATOR_KEY)).json()
        assert ready["checks"]["database"].startswith("unreachable: ") and "127.0.0.1" in ready["checks"]["database"]
        weights = client.get("/v1/utility-weights", headers=key(OPERATOR_KEY)).json()["detail"]
        assert weights.startswith("database unavailable: ") and "127.0.0.1" in weights
    finally:
        client.app.state.serving = serving
        engine.dispose()
