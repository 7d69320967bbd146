"""POST /v1/events without a database: each event checked on its own, the answer assembled from
what the database did, and the per-key token buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.event_batch import answer, check_batch
from service.rate_limit import TokenBuckets
from sql.posted_events import AppendOutcome

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def event(event_id: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": event_id, "user_id": 1, "pin_id": 2, "action": "click", "surface": "homefeed",
        "ts": "2026-12-04T11:00:00Z", **fields,
    }


def test_each_bad_event_is_refused_alone_with_its_reasons():
    rows = [
        event("good-1"),
        event("bad-action", action="like"),
        event("bad-time", ts=(NOW + timedelta(hours=1)).isoformat()),
        {"event_id": "half", "user_id": 1},
        event("good-2", ts="2026-12-04T11:30:00", position=3, request_id="r1", arm="creator-boost"),
        event("too-early", ts="2025-12-31T23:00:00Z"),
        event("extra", colour="red"),
        event(7),
    ]
    checked = check_batch(rows, now=NOW)
    assert [(index, e.client_event_id) for index, e in checked.valid] == [(0, "good-1"), (4, "good-2")]
    assert checked.valid[1][1].ts == datetime(2026, 12, 4, 11, 30, tzinfo=UTC)  # no offset: UTC
    refused = {refusal.index: refusal for refusal in checked.refused}
    assert sorted(refused) == [1, 2, 3, 5, 6, 7]
    assert refused[1].event_id == "bad-action" and refused[1].reasons[0].startswith("action: Input should be")
    assert refused[2].reasons == ["ts: more than 5 minutes in the future"]
    assert {reason.split(":")[0] for reason in refused[3].reasons} == {"pin_id", "action", "surface", "ts"}
    assert refused[5].reasons == ["ts: before 2026-01-01, the first day of the event log"]
    assert refused[6].reasons == ["colour: Extra inputs are not permitted"]
    assert refused[7].event_id is None and refused[7].reasons[0].startswith("event_id:")


def test_an_id_repeated_in_a_batch_is_stored_once_and_reported_as_a_duplicate():
    checked = check_batch([event("a"), event("b"), event("a", action="save")], now=NOW)
    assert [e.client_event_id for _, e in checked.valid] == ["a", "b"]
    assert checked.repeated == ["a"]


def test_the_answer_counts_what_was_stored_and_names_duplicates_and_refusals_in_batch_order():
    checked = check_batch([event("a"), event("b", action="like"), event("c"), event("d"), event("a")], now=NOW)
    outcome = AppendOutcome(stored=["a"], duplicates=["c"], refused={"d": "unknown pin_id"})
    reply = answer(checked, outcome)
    assert reply.stored == 1
    assert reply.duplicates == ["c", "a"]
    assert [(r.index, r.event_id) for r in reply.refused] == [(1, "b"), (3, "d")]
    assert reply.refused[1].reasons == ["unknown pin_id"]


def test_a_bucket_lets_its_burst_through_then_refuses_until_a_token_is_back():
    clock = [100.0]
    buckets = TokenBuckets(clock=lambda: clock[0])
    assert [buckets.take("ingest", rate=0.5, burst=3) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("ingest", rate=0.5, burst=3) == 2  # one token every 2 s
    assert buckets.take("other", rate=0.5, burst=3) == 0  # each key its own bucket
    clock[0] += 1.5
    assert buckets.take("ingest", rate=0.5, burst=3) == 1
    clock[0] += 0.5
    assert buckets.take("ingest", rate=0.5, burst=3) == 0
    clock[0] += 3600  # a long pause refills to the burst, no more
    assert [buckets.take("ingest", rate=0.5, burst=3) for _ in range(4)] == [0, 0, 0, 2]
