"""The database guard's own limits, on the session's embedded Postgres and on a server that never
answers: a bounded pool of step threads, busy is not an outage, and TCP liveness on connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import Connection, Engine, text

from core.database import TCP_LIVENESS, database_url, pooled_engine, request_engine
from core.settings import get_settings
from service.database_guard import DatabaseGuard, DatabaseUnavailable
from sql.embeddings import request_session

WAIT_SECONDS = 30  # far above any deadline here: only a hang reaches it


@pytest.fixture()
def engine(session_data_dir) -> Iterator[Engine]:
    """A pool of two connections to the session's database, waiting 0.2 s for a free one."""
    pool = pooled_engine(database_url(), connect_timeout_s=2, pool_size=2, max_overflow=0, pool_timeout_s=0.2)
    yield pool
    pool.dispose()


def thread_name(conn: Connection) -> str:
    conn.execute(text("SELECT 1"))
    return threading.current_thread().name


def test_steps_run_on_a_bounded_pool_of_threads(engine):
    guard = DatabaseGuard(engine, deadline_ms=5_000)
    assert guard.threads == 2  # one per pooled connection
    names = {guard.read(thread_name) for _ in range(20)}
    assert len(names) <= 2 and all(name.startswith("database-step") for name in names)


def test_a_full_pool_refuses_at_once_and_is_no_outage(engine):
    guard = DatabaseGuard(engine, deadline_ms=5_000, threads=1)
    release = threading.Event()
    held = guard.submit(lambda conn: release.wait(WAIT_SECONDS))
    try:
        with pytest.raises(DatabaseUnavailable, match="all 1 database threads are busy"):
            guard.read(thread_name)
    finally:
        release.set()
    assert held.result() is True
    assert guard.read(thread_name).startswith("database-step")  # no pause followed


def test_waiting_for_a_connection_gives_up_inside_the_deadline_and_is_no_outage(engine):
    guard = DatabaseGuard(engine, deadline_ms=5_000, threads=3)  # more threads than connections
    with engine.connect(), engine.connect():  # both connections taken by someone else
        with pytest.raises(DatabaseUnavailable, match="QueuePool limit"):
            guard.read(thread_name)
    assert guard.problem() is None  # busy, not down: the next step runs at once


def test_the_request_pool_waits_less_than_the_deadline_and_has_a_connection_per_thread(session_data_dir):
    settings = get_settings()
    engine = request_engine(settings, request_session(statement_timeout_ms=150, ef_search=40))
    assert engine.pool.timeout() < settings.database_deadline_ms / 1000
    assert DatabaseGuard(engine, deadline_ms=settings.database_deadline_ms).threads == settings.database_connections


def test_connections_carry_tcp_keepalives_and_a_user_timeout(session_data_dir):
    engine = pooled_engine(database_url(), connect_timeout_s=2)
    with engine.connect() as conn:
        parameters = conn.connection.dbapi_connection.info.get_parameters()
    engine.dispose()
    expected = {name: str(value) for name, value in TCP_LIVENESS.items()}
    assert {name: parameters.get(name) for name in TCP_LIVENESS} == expected


def test_a_step_hands_over_midway_and_goes_on(engine):
    guard = DatabaseGuard(engine, deadline_ms=5_000)
    handoff: Future[int] = Future()
    release = threading.Event()

    def step(conn: Connection) -> str:
        handoff.set_result(conn.execute(text("SELECT 41 + 1")).scalar_one())
        release.wait(WAIT_SECONDS)
        return thread_name(conn)

    pending = guard.submit(step)
    assert pending.handed_over(handoff) == 42  # while the step still runs
    release.set()
    assert pending.result().startswith("database-step")


def test_a_step_that_fails_before_handing_over_is_unavailable(engine):
    guard = DatabaseGuard(engine, deadline_ms=5_000)
    handoff: Future[int] = Future()
    pending = guard.submit(lambda conn: conn.execute(text("SELECT * FROM no_such_table")))
    with pytest.raises(DatabaseUnavailable, match="no_such_table"):
        pending.handed_over(handoff)
    assert not handoff.done()


def test_a_step_that_never_hands_over_is_unavailable_at_the_deadline(engine):
    guard = DatabaseGuard(engine, deadline_ms=200)
    release = threading.Event()
    pending = guard.submit(lambda conn: release.wait(WAIT_SECONDS))
    try:
        with pytest.raises(DatabaseUnavailable, match="no answer within 200 ms"):
            pending.handed_over(Future())
    finally:
        release.set()


def test_the_deadline_stands_still_while_the_request_works_between_handover_and_hand_in(engine):
    guard = DatabaseGuard(engine, deadline_ms=300)
    handoff: Future[int] = Future()
    handed_in: Future[int] = Future()

    def step(conn: Connection) -> int:
        handoff.set_result(conn.execute(text("SELECT 1")).scalar_one())
        return conn.execute(text("SELECT :n + 1"), {"n": handed_in.result(WAIT_SECONDS)}).scalar_one()

    pending = guard.submit(step)
    assert pending.handed_over(handoff) == 1
    time.sleep(0.5)  # the request's own work, longer than the whole deadline
    pending.hand_in(handed_in, 41)
    assert pending.result() == 42
    assert guard.healthy()


def test_the_deadline_still_counts_the_database_time_after_the_hand_in(engine):
    guard = DatabaseGuard(engine, deadline_ms=300)
    handoff: Future[int] = Future()
    handed_in: Future[float] = Future()

    def step(conn: Connection) -> None:
        handoff.set_result(conn.execute(text("SELECT 1")).scalar_one())
        conn.execute(text("SELECT pg_sleep(:s)"), {"s": handed_in.result(WAIT_SECONDS)})

    pending = guard.submit(step)
    pending.handed_over(handoff)
    pending.hand_in(handed_in, 0.6)
    with pytest.raises(DatabaseUnavailable, match="no answer within 300 ms"):
        pending.result()
    assert not guard.healthy()
