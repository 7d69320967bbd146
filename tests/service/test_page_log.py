"""Logging pages' impressions never fails a page and holds at most one of the guard's threads:
one writer at a time takes every page waiting, a database that cannot take them leaves a warning."""

from __future__ import annotations

import logging
import threading

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
        self.release.wait(timeout=30)
        if self.failures:
            self.failures -= 1
            raise DatabaseUnavailable("no answer within 1000 ms")
        self.batches.append([p.request_id for p in kwargs["pages"]])


def test_a_page_is_written_through_the_guard():
    guard = RecordingGuard()
    PageLog().add(guard, page("r1"))
    assert guard.batches == [["r1"]]


def test_a_database_that_cannot_take_them_leaves_a_warning_and_the_next_page_is_written(caplog):
    guard, pages = RecordingGuard(failures=1), PageLog()
    with caplog.at_level(logging.WARNING, logger="corkboard.service"):
        pages.add(guard, page("r1"))
    assert "impressions of 1 pages not logged: no answer within 1000 ms" in caplog.text
    pages.add(guard, page("r2"))
    assert guard.batches == [["r2"]]


def test_pages_added_while_a_writer_is_at_work_go_in_its_next_batch():
    guard, pages = RecordingGuard(hold_first=True), PageLog()
    writer = threading.Thread(target=pages.add, args=(guard, page("r1")))
    writer.start()
    assert guard.started.wait(timeout=30)
    pages.add(guard, page("r2"))  # returns at once: the writer at work takes them
    pages.add(guard, page("r3"))
    assert guard.batches == []
    guard.release.set()
    writer.join(timeout=30)
    assert guard.batches == [["r1"], ["r2", "r3"]]
    pages.add(guard, page("r4"))  # the writer is done: the next page's task writes it
    assert guard.batches[-1] == ["r4"]
