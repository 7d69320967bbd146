"""A served page is answered with its request id, and its impressions are logged once the answer
is sent, so that every posted event can be joined to what was shown. The pages are written through
the database guard by one writer at a time, in batches (one insert for however many pages waited),
so logging holds at most one of the guard's threads however slowly the database writes. A page
that cannot be logged is a warning; the page itself never waits on it."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request, Response

from service.database_guard import DatabaseGuard, DatabaseUnavailable
from service.dependencies import ServingStateDep
from service.schemas import PagePublic
from sql.page_impressions import ServedPage, log_pages

log = logging.getLogger("corkboard.service")
MAX_WAITING = 5_000  # pages waiting to be written; more are dropped, with a warning
MAX_BATCH = 200  # pages per insert, well inside the statement timeout


class PageLog:
    """Pages waiting for their impressions to be written, and whether a writer is at work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[ServedPage] = []
        self._writing = False

    def add(self, guard: DatabaseGuard, page: ServedPage) -> None:
        """Queue ``page``; unless a writer is at work, become it and write through ``guard`` until
        no page waits (run after the answer is sent)."""
        with self._lock:
            if len(self._waiting) >= MAX_WAITING:
                log.warning("impressions of page %s not logged: %d pages wait already", page.request_id, MAX_WAITING)
                return
            self._waiting.append(page)
            if self._writing:
                return  # the writer at work takes it with its next batch
            self._writing = True
        try:
            while batch := self._next_batch():
                try:
                    guard.read(log_pages, pages=batch)
                except DatabaseUnavailable as error:
                    log.warning("impressions of %d pages not logged: %s", len(batch), error)
        except BaseException:
            with self._lock:  # an unexpected error: the next page's task takes over
                self._writing = False
            raise

    def _next_batch(self) -> list[ServedPage]:
        """The oldest waiting pages, up to MAX_BATCH; none (and no writer at work) once none wait."""
        with self._lock:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._writing = bool(batch)
            return batch


def served_page(page: PagePublic, request_id: str) -> ServedPage:
    """What ``page``, answered to request ``request_id``, showed, in position order."""
    return ServedPage(
        request_id=request_id, surface=page.surface, user_id=page.user_id, arm=page.arm,
        pin_ids=[item.pin_id for item in page.items],
    )


class PageAnswer:
    """A route's way to answer a page: with the request's id, its impressions logged afterwards."""

    def __init__(self, request: Request, background: BackgroundTasks, state: ServingStateDep) -> None:
        self.request_id: str = request.state.request_id  # set by service.logging.RequestLogMiddleware
        self.page_log: PageLog = request.app.state.page_log
        self.background, self.guard = background, state.database

    def __call__(self, page: PagePublic) -> Response:
        """``page`` as JSON, serialized once by pydantic (returned as a model, FastAPI would
        validate it again and encode it in two more passes)."""
        page = page.model_copy(update={"request_id": self.request_id})
        if page.items:
            self.background.add_task(self.page_log.add, self.guard, served_page(page, self.request_id))
        return Response(page.model_dump_json(), media_type="application/json")


PageAnswerDep = Annotated[PageAnswer, Depends()]
