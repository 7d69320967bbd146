"""Logging pages' impressions never holds a page and holds at most one of the guard's threads: the
request queues its page, one writer takes every page waiting, a database that cannot take them
leaves a warning."""

from __future__ import annotations

import logging
import threading

import pytest

from service import page_log
from service.database_guard import DatabaseUnavailable
from service.page_log import PageLog
from sql.page_impressions import ServedPage


def page(request_id: str) -> ServedPage:
    return ServedPage(request_id=request_id, surface="homefeed", user_id=7, arm=None, pin_ids=[3, 1, 2])


class RecordingGuard:
    """Stands in for the DatabaseGuard: records each step's batch of pages, failing while told to,
    and can hold its first step until released."""

    def __init__(self, *, failures: int = 0, hold_first: bool = False) -> None:
        self.failures, self.batches = failures, []
        self.started, self.release = threading.Event(), threading.Event()
        if not hold_first:
            self.release.set()

    def read(self, work, /, **kwargs):
        self.started.set()
        assert self.release.wait(timeout=30)
        if self.failures:
            self.failures -= 1
            raise DatabaseUnavailable("no answer within 1000 ms")
        self.batches.append([p.request_id for p in kwargs["pages"]])


def test_a_queued_page_is_written_through_the_guard():
    guard, pages = RecordingGuard(), PageLog()
    pages.add(guard, page("r1"))
    assert pages.flush(timeout=30)
    assert guard.batches == [["r1"]]


def test_a_database_that_cannot_take_them_leaves_a_warning_and_the_next_page_is_written(caplog):
    guard, pages = RecordingGuard(failures=1), PageLog()
    with caplog.at_level(logging.WARNING, logger="corkboard.service"):
        pages.add(guard, page("r1"))
        assert pages.flush(timeout=30)
    assert "impressions of 1 pages not logged: no answer within 1000 ms" in caplog.text
    pages.add(guard, page("r2"))
    assert pages.flush(timeout=30)
    assert guard.batches == [["r2"]]


def test_pages_queued_while_the_writer_waits_on_the_database_go_in_its_next_batch():
    guard, pages = RecordingGuard(hold_first=True), PageLog()
    pages.add(guard, page("r1"))
    assert guard.started.wait(timeout=30)
    pages.add(guard, page("r2"))  # returns at once, the database still holding the writer
    pages.add(guard, page("r3"))
    assert not pages.flush(timeout=0.01) and guard.batches == []
    guard.release.set()
    assert pages.flush(timeout=30)
    assert guard.batches == [["r1"], ["r2", "r3"]]


def test_past_the_pages_allowed_to_wait_a_page_is_dropped_with_a_warning(caplog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(page_log, "MAX_WAITING", 1)
    guard, pages = RecordingGuard(hold_first=True), PageLog()
    pages.add(guard, page("r1"))
    assert guard.started.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="corkboard.service"):
        pages.add(guard, page("r2"))
        pages.add(guard, page("r3"))
    assert "impressions of page r3 not logged: 1 pages wait already" in caplog.text
    guard.release.set()
    assert pages.flush(timeout=30)
    assert guard.batches == [["r1"], ["r2"]]
