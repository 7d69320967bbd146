"""Who is asking, and with which weights: every surface's first database step reads the user's
history and the stored utility weights together, so the weights cost no round trip of their own."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from service.database_guard import DatabaseUnavailable
from service.served_weights import (
    ServedWeights,
    StoredWeights,
    WeightsOverride,
    read_stored_weights,
    served_weights,
)
from service.serving_state import ServingState
from service.stages import stage
from service.user_context import UserContext, UserHistory, read_user_history, user_context

log = logging.getLogger("corkboard.service")


@dataclass(frozen=True)
class RequestContext:
    """The request's user and the utility weights its page is blended with."""

    user: UserContext
    weights: ServedWeights


@dataclass(frozen=True)
class StoredRequestData:
    """What a request reads from Postgres before its candidates."""

    history: UserHistory | None  # None for an anonymous request
    weights: StoredWeights


def read_request_data(conn: Connection, *, user_id: int | None, seen_days: int, max_excluded: int) -> StoredRequestData:
    """The user's history (when there is a user) and the stored utility weights, over one connection."""
    history = None if user_id is None else read_user_history(
        conn, user_id=user_id, seen_days=seen_days, max_excluded=max_excluded
    )
    return StoredRequestData(history, read_stored_weights(conn))


def request_context(state: ServingState, *, user_id: int | None, override: WeightsOverride | None) -> RequestContext:
    """The context of ``user_id`` (None: anonymous) and the weights to serve them (see
    ``served_weights``), read in one database step. When the database cannot answer in time, the
    user is served without history and with the code's weights, both degraded."""
    try:
        with stage("user_context"):
            stored = state.database.read(
                read_request_data,
                user_id=user_id,
                seen_days=state.settings.seen_days,
                max_excluded=state.settings.max_excluded_pins,
            )
    except DatabaseUnavailable as error:
        warn_unavailable(user_id, error)
        stored = None
    return context_of(state, stored, user_id=user_id, override=override)


def warn_unavailable(user_id: int | None, error: DatabaseUnavailable) -> None:
    """Log that the history and weights of a request could not be read."""
    log.warning("history and utility weights for user %s unavailable: %s", user_id, error)


def context_of(
    state: ServingState, stored: StoredRequestData | None, *, user_id: int | None, override: WeightsOverride | None
) -> RequestContext:
    """The request's context from what was read for it (None: the database could not say)."""
    return RequestContext(
        user=user_context(state, user_id, None if stored is None else stored.history),
        weights=served_weights(None if stored is None else stored.weights, user_id=user_id, override=override),
    )
