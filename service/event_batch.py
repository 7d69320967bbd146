"""The bodies of ``POST /v1/events``, and the checks of each event on its own: a bad event refuses
only itself, and the answer names it with its reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.world import FIRST_EVENT_DAY
from service.logging import MAX_REQUEST_ID
from sql.posted_events import AppendOutcome, PostedEvent

MAX_EVENTS = 500  # per batch; the body limit (CORKBOARD_MAX_BODY_BYTES) usually binds first
MAX_CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a client's clock may put an event
FIRST_EVENT_TIME = datetime.combine(FIRST_EVENT_DAY, datetime.min.time(), tzinfo=UTC)
MAX_ID = 2**63 - 1

EXAMPLE_EVENT = {
    "event_id": "3f2a9c1e-click-1",
    "user_id": 42,
    "pin_id": 1017,
    "action": "click",
    "surface": "homefeed",
    "ts": "2026-12-04T17:02:11Z",
    "position": 3,
    "request_id": "5b0e6c7d9f8a4e21b3c4d5e6f7a8b9c0",
    "arm": "creator-boost",
}


class EventIn(BaseModel):
    """One engagement with a pin, as a client posts it."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="The client's id of the event, unique across clients (e.g. a UUID): a retry is stored once.",
    )
    user_id: int = Field(ge=0, le=MAX_ID)
    pin_id: int = Field(ge=0, le=MAX_ID)
    action: Literal["impression", "click", "long_click", "save", "hide"]
    surface: Literal["homefeed", "related", "search"]
    ts: datetime = Field(description="When it happened: ISO-8601, UTC when it names no offset.")
    position: int | None = Field(None, ge=0, le=2**31 - 1, description="The pin's slot on the page.")
    query: str | None = Field(None, max_length=200, description="The search text, on a search page's events.")
    request_id: str | None = Field(
        None, min_length=1, max_length=MAX_REQUEST_ID, description="The page's request_id (its X-Request-ID)."
    )
    arm: str | None = Field(None, max_length=64, description="The page's experiment arm.")

    @field_validator("ts")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def posted(self) -> PostedEvent:
        fields = self.model_dump()
        return PostedEvent(client_event_id=fields.pop("event_id"), **fields)


class EventBatch(BaseModel):
    """Events to append, each checked on its own (see EventIn for one event's fields)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"events": [EXAMPLE_EVENT]}]})

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description="Each an object with event_id, user_id, pin_id, action (impression, click, long_click, save, "
        "hide), surface (homefeed, related, search), ts, and optionally position, query, request_id and arm. "
        "An event that fails its checks is refused alone.",
    )


class RefusedEvent(BaseModel):
    index: int = Field(description="The event's place in the batch, from 0.")
    event_id: str | None = Field(description="Its event_id, when it had a text one.")
    reasons: list[str]


class EventsAnswer(BaseModel):
    stored: int = Field(description="Events stored now.")
    duplicates: list[str] = Field(
        description="event_ids stored before, or earlier in this batch: not stored again (a retry is safe)."
    )
    refused: list[RefusedEvent] = Field(description="Events not stored, with why.")


@dataclass(frozen=True)
class CheckedBatch:
    """A batch split into the events to store (distinct ids), ids repeated within it, and refusals."""

    valid: list[tuple[int, PostedEvent]]  # (index in the batch, event)
    repeated: list[str]
    refused: list[RefusedEvent]


def check_batch(rows: list[dict[str, Any]], *, now: datetime) -> CheckedBatch:
    """Each row checked on its own: its fields (EventIn) and its time, from the first event day to
    ``now`` plus the clock skew allowed; a later row repeating an accepted row's id is a repeat."""
    valid: list[tuple[int, PostedEvent]] = []
    repeated: list[str] = []
    refused: list[RefusedEvent] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        event_id = row.get("event_id") if isinstance(row.get("event_id"), str) else None
        try:
            event = EventIn.model_validate(row)
        except ValidationError as error:
            refused.append(RefusedEvent(index=index, event_id=event_id, reasons=_reasons(error)))
            continue
        problem = _time_problem(event.ts, now)
        if problem:
            refused.append(RefusedEvent(index=index, event_id=event_id, reasons=[problem]))
        elif event.event_id in seen:
            repeated.append(event.event_id)
        else:
            seen.add(event.event_id)
            valid.append((index, event.posted()))
    return CheckedBatch(valid, repeated, refused)


def answer(checked: CheckedBatch, outcome: AppendOutcome) -> EventsAnswer:
    """The reply to a batch: what the database stored, skipped as stored before, or refused."""
    index_of = {event.client_event_id: index for index, event in checked.valid}
    unknown = [
        RefusedEvent(index=index_of[event_id], event_id=event_id, reasons=[reason])
        for event_id, reason in outcome.refused.items()
    ]
    return EventsAnswer(
        stored=len(outcome.stored),
        duplicates=[*outcome.duplicates, *checked.repeated],
        refused=sorted([*checked.refused, *unknown], key=lambda refusal: refusal.index),
    )


def _time_problem(ts: datetime, now: datetime) -> str | None:
    if ts < FIRST_EVENT_TIME:
        return f"ts: before {FIRST_EVENT_DAY.isoformat()}, the first day of the event log"
    if ts > now + MAX_CLOCK_SKEW:
        return f"ts: more than {MAX_CLOCK_SKEW.seconds // 60} minutes in the future"
    return None


def _reasons(error: ValidationError) -> list[str]:
    """Pydantic's problems as ``field: message`` lines, without echoing the input."""
    return [f"{'.'.join(map(str, problem['loc'])) or 'event'}: {problem['msg']}" for problem in error.errors()]
