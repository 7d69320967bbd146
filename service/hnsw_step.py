"""A page's HNSW searches as one database step: they run in one statement on the guard's thread,
and when that statement fails or the step runs out of time, every source it was to give is named
in ``degraded_sources`` while the in-memory sources still answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from service.candidates import Candidates, searched_rows
from service.database_guard import DatabaseUnavailable, PendingRead, describe
from service.serving_state import ServingState
from sql.embeddings import VectorSearch

log = logging.getLogger("corkboard.service")
NamedSearches = list[tuple[str, VectorSearch]]


def searched_candidates(
    conn: Connection, state: ServingState, searches: NamedSearches, *, sources: Sequence[str], exclude: frozenset[int]
) -> Candidates:
    """The candidates of ``searches`` (skipping ``exclude`` rows), found in one statement; every
    one of ``sources`` is degraded when the statement fails."""
    found = Candidates()
    try:
        for source, rows in searched_rows(state, conn, searches, exclude_rows=exclude):
            found.add(rows, source, exclude)
    except SQLAlchemyError as error:
        log.warning("candidate sources %s failed: %s", ", ".join(sources), describe(error))
        found.degraded.extend(sources)
    return found


def collected(pending: PendingRead[Candidates], sources: Sequence[str]) -> Candidates:
    """The candidates of a submitted search step; every one of ``sources`` is degraded when the
    database is unavailable or missed the deadline."""
    try:
        return pending.result()
    except DatabaseUnavailable as error:
        log.warning("database sources %s unavailable: %s", ", ".join(sources), error)
        return Candidates(degraded=list(sources))
