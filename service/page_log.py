"""A served page is answered with its request id, and its impressions are logged once the answer
is sent: one insert per page through the database guard, so that every posted event can be joined
to what was shown. A failed insert is logged as a warning; the page never waits on it."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request, Response

from service.database_guard import DatabaseGuard, DatabaseUnavailable
from service.dependencies import ServingStateDep
from service.schemas import PagePublic
from sql.page_impressions import ServedPage, log_page

log = logging.getLogger("corkboard.service")


def served_page(page: PagePublic, request_id: str) -> ServedPage:
    """What ``page``, answered to request ``request_id``, showed, in position order."""
    return ServedPage(
        request_id=request_id, surface=page.surface, user_id=page.user_id, arm=page.arm,
        pin_ids=[item.pin_id for item in page.items],
    )


def log_impressions(guard: DatabaseGuard, page: ServedPage) -> None:
    """Insert the page's impressions; when the database cannot take them, say so and go on."""
    try:
        guard.read(log_page, page=page)
    except DatabaseUnavailable as error:
        log.warning("impressions of page %s not logged: %s", page.request_id, error)


class PageAnswer:
    """A route's way to answer a page: with the request's id, its impressions logged afterwards."""

    def __init__(self, request: Request, background: BackgroundTasks, state: ServingStateDep) -> None:
        self.request_id: str = request.state.request_id  # set by service.logging.RequestLogMiddleware
        self.background, self.guard = background, state.database

    def __call__(self, page: PagePublic) -> Response:
        """``page`` as JSON, serialized once by pydantic (returned as a model, FastAPI would
        validate it again and encode it in two more passes)."""
        page = page.model_copy(update={"request_id": self.request_id})
        if page.items:
            self.background.add_task(log_impressions, self.guard, served_page(page, self.request_id))
        return Response(page.model_dump_json(), media_type="application/json")


PageAnswerDep = Annotated[PageAnswer, Depends()]
