"""A served page is answered with its request id, and its impressions are logged for it, so that
every posted event can be joined to what was shown. The request only queues its page; one thread per
app writes the queue through the database guard in batches (one insert for the pages of the last
``GATHER_SECONDS``, however many waited), so logging holds at most one of the guard's threads, wakes
once per batch rather than once per page, and adds no thread per request, however slowly the
database writes. A page that cannot be logged is a warning; the page itself never waits on it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated

from fastapi import Depends, Request, Response

from service.database_guard import DatabaseGuard, DatabaseUnavailable
from service.dependencies import ServingStateDep
from service.schemas import PagePublic
from sql.page_impressions import ServedPage, log_pages

log = logging.getLogger("corkboard.service")
MAX_WAITING = 5_000  # pages waiting to be written; more are dropped, with a warning
MAX_BATCH = 200  # pages per insert, well inside the statement timeout
GATHER_SECONDS = 0.05  # how long the first page of a batch waits for more to join it


class PageLog:
    """Pages waiting for their impressions to be written, and the thread that writes them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[ServedPage] = []
        self._writing = False
        self._guard: DatabaseGuard | None = None  # the latest page's; every state's reaches one database
        threading.Thread(target=self._write_forever, name="page-log", daemon=True).start()

    def add(self, guard: DatabaseGuard, page: ServedPage) -> None:
        """Queue ``page`` for the writer; returns at once."""
        with self._changed:
            if len(self._waiting) >= MAX_WAITING:
                log.warning("impressions of page %s not logged: %d pages wait already", page.request_id, MAX_WAITING)
                return
            self._waiting.append(page)
            self._guard = guard
            if len(self._waiting) == 1:  # the writer waits for a first page only
                self._changed.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every page queued so far is written (or given up); False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._writing, timeout)

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting)
            time.sleep(GATHER_SECONDS)
            with self._changed:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                guard, self._writing = self._guard, True
            try:
                guard.read(log_pages, pages=batch)
            except DatabaseUnavailable as error:
                log.warning("impressions of %d pages not logged: %s", len(batch), error)
            except Exception:  # a bug must not stop the page log for good: say so, go on
                log.exception("impressions of %d pages not logged", len(batch))
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()


def served_page(page: PagePublic, request_id: str) -> ServedPage:
    """What ``page``, answered to request ``request_id``, showed, in position order."""
    return ServedPage(
        request_id=request_id, surface=page.surface, user_id=page.user_id, arm=page.arm,
        pin_ids=[item.pin_id for item in page.items],
    )


class PageAnswer:
    """A route's way to answer a page: with the request's id, its impressions queued for the page log."""

    def __init__(self, request: Request, state: ServingStateDep) -> None:
        self.request_id: str = request.state.request_id  # set by service.logging.RequestLogMiddleware
        self.page_log: PageLog = request.app.state.page_log
        self.guard = state.database

    def __call__(self, page: PagePublic) -> Response:
        """``page`` as JSON, serialized once by pydantic (returned as a model, FastAPI would
        validate it again and encode it in two more passes)."""
        page = page.model_copy(update={"request_id": self.request_id})
        if page.items:
            self.page_log.add(self.guard, served_page(page, self.request_id))
        return Response(page.model_dump_json(), media_type="application/json")


async def page_answer(request: Request, state: ServingStateDep) -> PageAnswer:
    """The request's ``PageAnswer``, made on the event loop (a class dependency would take a worker thread)."""
    return PageAnswer(request, state)


PageAnswerDep = Annotated[PageAnswer, Depends(page_answer)]
