"""POST /v1/events on the tiny world: batches stored once per event id and per row, the user's next
page reading them, the pages' impressions logged for the join, the events scope and the rate limit.
Every row a test writes is deleted when the module ends."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from service import page_log
from service.app import create_app
from service.request_context import request_context
from sql.migrate import migrated_engine
from sql.posted_events import PostedEvent, append_posted

INGEST_KEY, INGEST = new_api_key("events-test", [Scope.EVENTS])
READER_KEY, READER = new_api_key("events-test-reader", [Scope.READ])
THROTTLED_KEY, THROTTLED = new_api_key("events-test-throttled", [Scope.EVENTS])
REQUEST_PREFIX = "events-test-"


@pytest.fixture(scope="module")
def client(materialized_tiny) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        settings = get_settings().model_copy(update={"api_keys": (INGEST, READER, THROTTLED)})
        test_client.app.dependency_overrides[get_settings] = lambda: settings
        yield test_client
        assert test_client.app.state.page_log.flush(timeout=30)
    with migrated_engine().begin() as conn:
        conn.execute(
            text(
                "DELETE FROM events WHERE event_id IN "
                "(SELECT event_id FROM posted_events WHERE posted_by LIKE 'events-test%')"
            )
        )
        conn.execute(text("DELETE FROM posted_events WHERE posted_by LIKE 'events-test%'"))
        conn.execute(text("DELETE FROM page_impressions WHERE request_id LIKE :p"), {"p": f"{REQUEST_PREFIX}%"})


@pytest.fixture(scope="module")
def user_id(materialized_tiny) -> int:
    """An engaged user other than the most active one, whom other modules read."""
    with migrated_engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT user_id FROM events WHERE action IN ('click', 'save', 'long_click') "
                "GROUP BY user_id ORDER BY count(*) DESC, user_id OFFSET 4 LIMIT 1"
            )
        ).scalar_one()


def catalogue_pins(count: int) -> list[int]:
    with migrated_engine().connect() as conn:
        return list(conn.scalars(text("SELECT pin_id FROM pins ORDER BY pin_id LIMIT :n"), {"n": count}))


def new_id() -> str:
    return uuid.uuid4().hex


def event(user_id: int, pin_id: int, action: str = "click", **fields: object) -> dict[str, object]:
    ts = datetime.now(UTC) - timedelta(seconds=5)
    return {
        "event_id": new_id(), "user_id": user_id, "pin_id": pin_id, "action": action, "surface": "homefeed",
        "ts": ts.isoformat(), **fields,
    }


def post(client: TestClient, events: list[dict[str, object]], key: str = INGEST_KEY):
    return client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key})


def stored(event_ids: list[str]) -> list[tuple[str, str, int]]:
    """(client id, action, copies in the event log) of each id found in posted_events."""
    with migrated_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.client_event_id, p.action, count(e.event_id) FROM posted_events p "
                "LEFT JOIN events e USING (event_id) WHERE p.client_event_id = ANY(:ids) "
                "GROUP BY p.client_event_id, p.action ORDER BY p.client_event_id"
            ),
            {"ids": event_ids},
        )
        return [tuple(row) for row in rows]


def home_feed(client: TestClient, user_id: int, k: int = 10) -> dict:
    headers = {"X-API-Key": READER_KEY, "X-Request-ID": f"{REQUEST_PREFIX}{new_id()}"}
    response = client.get(f"/v1/users/{user_id}/recommendations", params={"k": k}, headers=headers)
    assert response.status_code == 200
    return response.json()


def test_a_stopping_service_writes_the_impressions_of_the_pages_it_answered(client, user_id, monkeypatch):
    write = page_log.log_pages
    # Still writing when the service is told to stop, yet well inside the database deadline (a
    # writer past it gives up, and the write would land, or not, after the test has counted).
    slow_s = client.app.state.serving.database.deadline_ms / 2000

    def slow_log_pages(*args, **kwargs):
        time.sleep(slow_s)
        return write(*args, **kwargs)

    monkeypatch.setattr(page_log, "log_pages", slow_log_pages)
    with TestClient(create_app()) as stopping:
        stopping.app.dependency_overrides[get_settings] = client.app.dependency_overrides[get_settings]
        page = home_feed(stopping, user_id, k=5)
    with migrated_engine().connect() as conn:  # no flush: the stop drained the queue
        logged = conn.execute(
            text("SELECT count(*) FROM page_impressions WHERE request_id = :r"), {"r": page["request_id"]}
        ).scalar_one()
    assert logged == len(page["items"]) == 5


def test_a_valid_batch_is_stored_and_counted(client, user_id):
    events = [event(user_id, pin, action) for pin, action in zip(catalogue_pins(3), ("impression", "click", "save"))]
    response = post(client, events)
    assert response.status_code == 200
    assert response.json() == {"stored": 3, "duplicates": [], "refused": []}
    ids = [e["event_id"] for e in events]
    assert stored(ids) == sorted((e["event_id"], e["action"], 1) for e in events)


def test_bad_rows_are_refused_by_index_with_reasons_and_the_good_ones_stored(client, user_id):
    pin = catalogue_pins(1)[0]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    events = [
        event(user_id, pin, "click"),
        event(user_id, pin, "like"),
        event(987_654_321, pin, "click"),  # no such user
        event(user_id, 987_654_321, "click"),  # no such pin
        event(user_id, pin, "click", ts=future),
        event(user_id, pin, "long_click"),
    ]
    body = post(client, events).json()
    assert body["stored"] == 2 and body["duplicates"] == []
    reasons = {refusal["index"]: refusal["reasons"] for refusal in body["refused"]}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert reasons[1][0].startswith("action: ") and reasons[2] == ["unknown user_id"]
    assert reasons[3] == ["unknown pin_id"] and reasons[4] == ["ts: more than 5 minutes in the future"]
    assert [row[0] for row in stored([e["event_id"] for e in events])] == sorted(
        [events[0]["event_id"], events[5]["event_id"]]
    )


def test_a_retried_event_id_is_stored_once_and_reported_as_a_duplicate(client, user_id):
    first, second = (event(user_id, pin) for pin in catalogue_pins(2))
    assert post(client, [first]).json()["stored"] == 1
    retried = post(client, [first, second, second]).json()
    assert retried == {"stored": 1, "duplicates": [first["event_id"], second["event_id"]], "refused": []}
    assert stored([first["event_id"], second["event_id"]]) == sorted(
        [(first["event_id"], "click", 1), (second["event_id"], "click", 1)]
    )


def test_a_batch_that_fails_in_the_database_stores_none_of_it(client, user_id):
    """One statement writes the batch: a failure on its last event leaves nothing of the others."""
    pins = catalogue_pins(3)
    events = [PostedEvent(new_id(), user_id, pin, "click", "homefeed", datetime.now(UTC)) for pin in pins]
    with migrated_engine().connect() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER test_refuse_event BEFORE INSERT ON events FOR EACH ROW "
                f"WHEN (NEW.pin_id = {pins[-1]} AND NEW.event_id < 0) EXECUTE FUNCTION test_refuse_event()"
            )
        )
        savepoint = conn.begin_nested()
        with pytest.raises(DBAPIError, match="injected failure"):
            append_posted(conn, events=events, posted_by="events-test")
        savepoint.rollback()
        left = conn.execute(
            text("SELECT count(*) FROM posted_events WHERE client_event_id = ANY(:ids)"),
            {"ids": [e.client_event_id for e in events]},
        ).scalar_one()
        conn.rollback()  # the trigger and function go too
    assert left == 0


def test_a_posted_hide_takes_the_pin_off_the_users_next_home_feed(client, user_id):
    shown = [item["pin_id"] for item in home_feed(client, user_id)["items"]]
    assert post(client, [event(user_id, shown[0], "hide")]).json()["stored"] == 1
    assert shown[0] not in [item["pin_id"] for item in home_feed(client, user_id, k=50)["items"]]


def test_a_posted_click_and_save_enter_the_next_pages_history_and_user_vector(client, user_id):
    state = client.app.state.serving
    before = request_context(state, user_id=user_id, override=None).user
    engaged = set(before.engagements.pin_ids.tolist())
    clicked, saved = [pin for pin in catalogue_pins(200) if pin not in engaged][-2:]
    body = post(client, [event(user_id, clicked, "click"), event(user_id, saved, "save")]).json()
    assert body["stored"] == 2
    after = request_context(state, user_id=user_id, override=None).user
    latest = zip(after.engagements.pin_ids[:2].tolist(), after.engagements.actions[:2].tolist(), strict=True)
    assert set(latest) == {(clicked, "click"), (saved, "save")}
    assert state.vectors.model.pin_rows(np.array([saved]))[0] in after.excluded_rows  # saved: never again
    assert before.two_tower_vector is not None and after.two_tower_vector is not None
    assert not np.allclose(before.two_tower_vector, after.two_tower_vector)


def test_a_served_page_logs_its_impressions_and_a_click_joins_them(client, user_id):
    page = home_feed(client, user_id)
    assert page["request_id"].startswith(REQUEST_PREFIX)
    assert client.app.state.page_log.flush(timeout=30)  # written by the page log's own thread
    with migrated_engine().connect() as conn:
        logged = conn.execute(
            text(
                "SELECT position, pin_id, surface, user_id, arm FROM page_impressions "
                "WHERE request_id = :r ORDER BY position"
            ),
            {"r": page["request_id"]},
        ).all()
    assert [(row.position, row.pin_id) for row in logged] == list(enumerate(i["pin_id"] for i in page["items"]))
    assert {(row.surface, row.user_id, row.arm) for row in logged} == {("homefeed", user_id, page["arm"])}
    clicked = page["items"][2]["pin_id"]
    click = event(user_id, clicked, "click", position=2, request_id=page["request_id"], arm=page["arm"])
    assert post(client, [click]).json()["stored"] == 1
    with migrated_engine().connect() as conn:
        joined = conn.execute(
            text(
                "SELECT i.position, i.arm FROM posted_events p JOIN page_impressions i "
                "ON i.request_id = p.request_id AND i.pin_id = p.pin_id WHERE p.client_event_id = :id"
            ),
            {"id": click["event_id"]},
        ).all()
    assert [(row.position, row.arm) for row in joined] == [(2, page["arm"])]


def test_posting_needs_a_key_with_the_events_scope(client, user_id):
    events = [event(user_id, catalogue_pins(1)[0])]
    assert client.post("/v1/events", json={"events": events}).status_code == 401
    assert post(client, events, key="guess").status_code == 401
    refused = post(client, events, key=READER_KEY)
    assert refused.status_code == 403 and "lacks the events scope" in refused.json()["detail"]
    assert stored([events[0]["event_id"]]) == []


def test_a_body_over_the_size_limit_is_413_and_stores_nothing(client, user_id):
    pin = catalogue_pins(1)[0]
    events = [event(user_id, pin, "impression") for _ in range(get_settings().max_body_bytes // 100)]
    response = client.post("/v1/events", content=json.dumps({"events": events}), headers={"X-API-Key": INGEST_KEY})
    assert response.status_code == 413
    assert stored([e["event_id"] for e in events]) == []


def test_past_the_rate_limit_a_key_gets_429_with_retry_after(client, user_id):
    configured = client.app.dependency_overrides[get_settings]
    limited = configured().model_copy(update={"events_burst": 2, "events_rate_per_s": 0.01})
    client.app.dependency_overrides[get_settings] = lambda: limited
    pin = catalogue_pins(1)[0]
    try:
        answers = [post(client, [event(user_id, pin, "impression")], key=THROTTLED_KEY) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert post(client, [event(user_id, pin, "impression")]).status_code == 200  # another key's bucket
    finally:
        client.app.dependency_overrides[get_settings] = configured
