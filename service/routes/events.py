"""Engagements in: ``POST /v1/events`` appends a batch to the event log (events scope)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from service.dependencies import AUTH_RESPONSES, EventsDep, KeyCheckedFirst, ServingStateDep, SettingsDep
from service.event_batch import EventBatch, EventsAnswer, answer, check_batch
from service.routes.utility_weights import BODY_RESPONSES
from sql.posted_events import AppendOutcome, append_posted

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=KeyCheckedFirst)
NOTHING_TO_STORE = AppendOutcome(stored=[], duplicates=[], refused={})


def rate_limited(request: Request, caller: EventsDep, settings: SettingsDep) -> None:
    """Take a token of the caller's bucket; 429 with Retry-After when it is empty."""
    wait = request.app.state.event_buckets.take(
        caller.name, rate=settings.events_rate_per_s, burst=settings.events_burst
    )
    if wait:
        raise HTTPException(
            status_code=429,
            detail=f"key {caller.name!r} is over {settings.events_rate_per_s:g} requests a second",
            headers={"Retry-After": str(wait)},
        )


@router.post(
    "",
    response_model=EventsAnswer,
    responses={
        **AUTH_RESPONSES,
        **BODY_RESPONSES,
        429: {"description": "Over the key's rate (CORKBOARD_EVENTS_RATE_PER_S); Retry-After says when to retry."},
        503: {"description": "Not ready, or the database unavailable: nothing was stored; retry the batch."},
    },
)
def post_events(
    caller: EventsDep, _: Annotated[None, Depends(rate_limited)], state: ServingStateDep, body: EventBatch
) -> EventsAnswer:
    """Append engagements to the event log: each event is checked on its own, and those that pass
    are stored together in one statement (all or none of them), once per event_id. The user's
    next page reads them."""
    checked = check_batch(body.events, now=datetime.now(UTC))
    events = [event for _, event in checked.valid]
    outcome = state.database.read(append_posted, events=events, posted_by=caller.name) if events else NOTHING_TO_STORE
    return answer(checked, outcome)
