"""The request path's way to Postgres: each step under a deadline, and a pause after an outage.

A server that is down refuses connections at once, but one that stops answering (a stalled host,
a proxy or network that drops packets) would hold a request forever: statement timeouts run on
the server. So each step runs on a thread of the guard's bounded pool, one per pooled connection,
and the request waits at most the deadline; when every thread is busy, the step is refused at
once rather than queued. After the database failed, the guard answers "unavailable" at once for a short pause,
so an outage costs a request one deadline now and then instead of one per step; the first step
after the pause tries again, so serving recovers by itself when the database returns. The pool
does not test a connection before handing it out (a round trip per step); a step whose pooled
connection turns out to have lost its server (a database restart) runs once more on a fresh one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as DeadlineExceeded
from typing import Concatenate, Generic, ParamSpec, TypeVar

import psycopg
from psycopg.errors import QueryCanceled
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

T = TypeVar("T")
U = TypeVar("U")
P = ParamSpec("P")
PAUSE_SECONDS = 1.0


class DatabaseUnavailable(RuntimeError):
    """A database step failed, ran out of time, or was skipped during the pause after an outage."""


class DatabaseGuard:
    """Runs database steps of requests under a client-side deadline, on an engine whose
    connections carry the statement timeout (``core.database.request_engine``), at most
    ``threads`` at once (default: one per connection of the engine's pool)."""

    def __init__(self, engine: Engine, *, deadline_ms: int, threads: int | None = None) -> None:
        self.engine = engine
        self.deadline_ms = deadline_ms
        self.threads = threads or engine.pool.size()
        # Non-blocking slots in front of the executor, whose own queue has no bound.
        self._slots = threading.BoundedSemaphore(self.threads)
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="database-step")
        self._lock = threading.Lock()
        self._outage: tuple[float, str] | None = None  # (monotonic time, reason) of the last failure

    def read(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(conn, *args, **kwargs)``, whose statements stop after the engine's statement
        timeout; raises DatabaseUnavailable when it fails, when no answer comes within the
        deadline, during the pause after an outage, or when every thread is busy. Errors that are
        not the database's propagate."""
        return self.submit(work, *args, **kwargs).result()

    def submit(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> PendingRead[T]:
        """Start ``read(work, ...)`` on a thread of the pool and return at once, so the request can
        do other work meanwhile; the deadline counts from now."""
        paused = self._paused()
        if paused:
            outcome: Future[T] = _failed(DatabaseUnavailable(paused))
        elif not self._slots.acquire(blocking=False):
            outcome = _failed(DatabaseUnavailable(f"all {self.threads} database threads are busy"))
        else:
            outcome = self._executor.submit(self._run, work, *args, **kwargs)
        return PendingRead(self, outcome, time.monotonic() + self.deadline_ms / 1000)

    def problem(self) -> str | None:
        """None when the database answers a trivial query now, else what is wrong with it."""
        try:
            self.read(_select_one)
        except DatabaseUnavailable as error:
            return f"unreachable: {error}"
        return None

    def healthy(self) -> bool:
        """False from a connection failure or missed deadline until a step succeeds again."""
        with self._lock:
            return self._outage is None

    def _run(self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            result = self._on_live_connection(work, *args, **kwargs)
        finally:
            self._slots.release()
        with self._lock:
            self._outage = None
        return result

    def _on_live_connection(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``work`` on a pooled connection; if that one had lost its server, the pool's other idle
        connections are dropped too (they went with it: a database restart) and ``work`` runs once
        more on a fresh one."""
        with self.engine.connect() as conn:
            try:
                return work(conn, *args, **kwargs)
            except (SQLAlchemyError, psycopg.Error) as error:
                if not _lost_server(conn, error):
                    raise
                conn.invalidate()  # not back into the pool
        self.engine.dispose()
        with self.engine.connect() as conn:
            return work(conn, *args, **kwargs)

    def _paused(self) -> str | None:
        with self._lock:
            if self._outage is not None and time.monotonic() - self._outage[0] < PAUSE_SECONDS:
                return self._outage[1]
        return None

    def record_outage(self, reason: str) -> str:
        """Start the pause after an outage; returns ``reason``."""
        with self._lock:
            self._outage = (time.monotonic(), reason)
        return reason


class PendingRead(Generic[T]):
    """A database step running on a thread of the guard's pool (left to finish or fail on its own,
    within the connections' TCP timeouts, if the request stops waiting)."""

    def __init__(self, guard: DatabaseGuard, outcome: Future[T], deadline: float) -> None:
        self._guard, self._outcome, self._deadline = guard, outcome, deadline
        self._handed_at: float | None = None  # when the step handed over, until ``hand_in``

    def handed_over(self, handoff: Future[U]) -> U:
        """What the step put in ``handoff`` midway, as soon as it does (the step goes on); raises
        as ``result`` does when the step fails or the deadline passes first. From then until
        ``hand_in`` the deadline stands still: the step waits on the request, not on the database."""
        wait([handoff, self._outcome], timeout=self._left(), return_when=FIRST_COMPLETED)
        if handoff.done():
            self._handed_at = time.monotonic()
            return handoff.result()
        self.result()
        raise RuntimeError("the database step ended without handing over")

    def hand_in(self, waiting: Future[U], value: U) -> None:
        """Give the step the ``value`` it waits for in ``waiting``; the deadline runs again, with
        what was left of it at the handover."""
        if self._handed_at is not None:
            self._deadline += time.monotonic() - self._handed_at
            self._handed_at = None
        waiting.set_result(value)

    def result(self) -> T:
        """The step's result; DatabaseUnavailable when it failed or the deadline passed first."""
        try:
            return self._outcome.result(timeout=self._left())
        except DeadlineExceeded:
            raise DatabaseUnavailable(self._guard.record_outage(f"no answer within {self._guard.deadline_ms} ms")) from None
        except (SQLAlchemyError, psycopg.Error) as error:  # psycopg's: from a step on the driver connection
            reason = describe(error)
            if isinstance(error, PoolTimeout) or isinstance(getattr(error, "orig", error), QueryCanceled):
                raise DatabaseUnavailable(reason) from error  # busy or slow, not down: no pause
            raise DatabaseUnavailable(self._guard.record_outage(reason)) from error

    def _left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())


def _failed(error: Exception) -> Future:
    """A future that already holds ``error``."""
    outcome: Future = Future()
    outcome.set_exception(error)
    return outcome


def _lost_server(conn: Connection, error: SQLAlchemyError | psycopg.Error) -> bool:
    """Whether ``error`` says ``conn`` lost its server: SQLAlchemy saw a disconnect, or the driver
    raised an operational error that is not a cancelled statement."""
    if conn.invalidated:
        return True
    cause = getattr(error, "orig", None) or error
    return isinstance(cause, psycopg.OperationalError) and not isinstance(cause, QueryCanceled)


def _select_one(conn: Connection) -> int:
    return conn.execute(text("SELECT 1")).scalar_one()


def describe(error: SQLAlchemyError | psycopg.Error) -> str:
    """The driver's message in one line, without SQLAlchemy's SQL echo and background links."""
    origin = getattr(error, "orig", None) or error
    return str(origin).strip().splitlines()[0] if str(origin).strip() else type(origin).__name__
