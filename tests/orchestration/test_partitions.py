"""Daily event partitions: a re-run replaces its days exactly; an interrupted backfill resumes cleanly.

Every test compares per-day fingerprints (row count and an md5 over the day's whole rows in
event_id order) of the entire events table, so a day outside the run that changed shows too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from dagster import materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from sqlalchemy import text

from sql.migrate import migrated_engine
from corkboard.materialize import dagster_instance
from orchestration.assets.ingest import raw_events
from orchestration.definitions import RESOURCES
from orchestration.resources import WorldSource
from sql.events import replace_days
from sql.posted_events import PostedEvent, append_posted

FIRST = date(2026, 10, 20)
DAYS = [FIRST + timedelta(days=n) for n in range(5)]  # the tiny world has events on each
FAILING_DAY = DAYS[2]

Fingerprints = dict[date, tuple[int, str]]


def fingerprints(*, files_only: bool = False) -> Fingerprints:
    """day -> (rows, md5 of the day's rows in event_id order) for every day in the log (of the
    events loaded from the source, without those posted to the service, when ``files_only``)."""
    where = "WHERE event_id >= 0" if files_only else ""
    with migrated_engine().connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT day, count(*), md5(string_agg(e::text, ',' ORDER BY event_id)) FROM events e {where} "
                "GROUP BY day"
            )
        )
        return {day: (int(count), digest) for day, count, digest in rows}


def run_days(first: date, last: date) -> bool:
    """Materialize raw_events for ``first..last`` as one run, the way a single-run backfill does."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()}
    result = materialize(
        [raw_events],
        resources={**RESOURCES, "source": WorldSource(world="tiny")},
        instance=dagster_instance(),
        tags=tags,
        raise_on_error=False,
    )
    return result.success


def delete_days(first: date, last: date) -> None:
    with migrated_engine().begin() as conn:
        conn.execute(text("DELETE FROM events WHERE day BETWEEN :a AND :b"), {"a": first, "b": last})


@pytest.fixture
def clean_log(materialized_tiny) -> Iterator[Fingerprints]:
    """The fingerprints of the uninterrupted load; the tested days are loaded again afterwards."""
    reference = fingerprints()
    assert all(reference.get(day, (0, ""))[0] > 0 for day in DAYS)
    yield reference
    assert run_days(DAYS[0], DAYS[-1])


@pytest.fixture
def failure_on(clean_log) -> Iterator[None]:
    """Every insert of an event on FAILING_DAY raises, mid-COPY, until the test ends."""
    with migrated_engine().begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION test_injected_failure() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected failure at %', NEW.ts; END $$"
            )
        )
        # BEFORE ROW fires as each row is copied (the generated day column is not set yet).
        conn.execute(
            text(
                "CREATE TRIGGER test_injected_failure BEFORE INSERT ON events FOR EACH ROW "
                f"WHEN ((NEW.ts AT TIME ZONE 'UTC')::date = DATE '{FAILING_DAY.isoformat()}') "
                "EXECUTE FUNCTION test_injected_failure()"
            )
        )
    try:
        yield
    finally:
        heal()


def heal() -> None:
    with migrated_engine().begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS test_injected_failure ON events"))
        conn.execute(text("DROP FUNCTION IF EXISTS test_injected_failure()"))


def test_rerun_replaces_its_days_exactly_and_touches_no_other(clean_log):
    first, last = DAYS[1], DAYS[3]
    with migrated_engine().begin() as conn:  # drift a replay must undo: a lost row and a stray one
        conn.execute(
            text("DELETE FROM events WHERE event_id = (SELECT min(event_id) FROM events WHERE day = :d)"), {"d": first}
        )
        conn.execute(
            text(
                "INSERT INTO events (event_id, user_id, pin_id, action, surface, position, ts) "
                "VALUES (-1, 1, 1, 'click', 'homefeed', 0, CAST(:d AS timestamptz) + interval '1 hour'), "
                "       (-2, 1, 1, 'click', 'homefeed', 0, CAST(:outside AS timestamptz) + interval '1 hour')"
            ),
            {"d": last, "outside": DAYS[4]},
        )
    assert run_days(first, last)
    after = fingerprints()
    assert {day: after[day] for day in DAYS[1:4]} == {day: clean_log[day] for day in DAYS[1:4]}
    assert after[DAYS[4]][0] == clean_log[DAYS[4]][0] + 1, "a day outside the run changed"
    others = set(clean_log) - set(DAYS)
    assert {day: after[day] for day in others} == {day: clean_log[day] for day in others}


def test_posted_events_are_in_their_days_partition_once_after_two_runs(clean_log):
    """Events posted to the service for a day are in the log at once, and a re-run of the day
    (twice) keeps each of them once beside the day's file events."""
    day = DAYS[1]
    with migrated_engine().begin() as conn:
        user_id = conn.scalar(text("SELECT min(user_id) FROM users"))
        pins = list(conn.scalars(text("SELECT pin_id FROM pins ORDER BY pin_id LIMIT 3")))
        noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        posted = [
            PostedEvent(f"partition-test-{n}", user_id, pin, "click", "homefeed", noon + timedelta(minutes=n))
            for n, pin in enumerate(pins)
        ]
        assert len(append_posted(conn, events=posted, posted_by="partition-test").stored) == len(pins)
    try:
        for _ in range(2):
            assert run_days(day, day)
            after = fingerprints()
            assert after[day][0] == clean_log[day][0] + len(pins)
            assert fingerprints(files_only=True) == clean_log, "the file events changed"
            with migrated_engine().connect() as conn:
                logged = conn.execute(
                    text(
                        "SELECT p.client_event_id, count(*) FROM events e JOIN posted_events p USING (event_id) "
                        "WHERE e.day = :d AND p.posted_by = 'partition-test' GROUP BY p.client_event_id"
                    ),
                    {"d": day},
                ).all()
            assert sorted(logged) == [(event.client_event_id, 1) for event in posted]
    finally:
        with migrated_engine().begin() as conn:  # the fixture's reload then takes them out of the log
            conn.execute(text("DELETE FROM posted_events WHERE posted_by = 'partition-test'"))


def test_failed_single_run_backfill_changes_nothing_and_its_rerun_matches_a_clean_load(clean_log, failure_on):
    delete_days(DAYS[0], DAYS[1])  # two days missing, three present: the backfill covers all five
    before = fingerprints()
    assert not run_days(DAYS[0], DAYS[-1])
    assert fingerprints() == before, "the failed run left part of its work behind"
    heal()
    assert run_days(DAYS[0], DAYS[-1])
    assert fingerprints() == clean_log


def test_day_by_day_backfill_resumes_from_the_failed_day_to_a_clean_load(clean_log, failure_on):
    delete_days(DAYS[0], DAYS[-1])
    before = fingerprints()
    done = []
    for day in DAYS:  # a multi-run backfill (or the daily schedule catching up) stops at the failure
        if not run_days(day, day):
            break
        done.append(day)
    assert done == DAYS[:2]
    assert fingerprints() == {**before, **{day: clean_log[day] for day in done}}, "not each day or nothing"
    heal()
    for day in DAYS[len(done) :]:
        assert run_days(day, day)
    assert fingerprints() == clean_log


def test_overlapping_loads_of_a_day_wait_for_each_other_and_leave_it_exact(session_data_dir):
    """The daily schedule and a backfill (or two CLI runs) may write the same day at once."""
    day = DAYS[1]
    events = WorldSource(world="tiny").load()[0].events
    events = events[events["ts"].dt.date == day]
    engine = migrated_engine()
    errors: list[Exception] = []

    def second_load() -> None:
        try:
            with engine.begin() as conn:
                replace_days(conn, first=day, last=day, events=events)
        except Exception as error:  # noqa: BLE001 - the test reports whatever the second load hit
            errors.append(error)

    with engine.begin() as first:
        replace_days(first, first=day, last=day, events=events)
        second = threading.Thread(target=second_load)
        second.start()
        with engine.connect() as watcher:  # commit the first load only once the second one waits
            deadline = time.monotonic() + 30
            while not watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                assert time.monotonic() < deadline, "the second load never waited for the first"
                watcher.rollback()
                time.sleep(0.05)
    second.join(timeout=60)
    assert not errors, errors
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM events WHERE day = :d"), {"d": day})
    assert count == len(events)
