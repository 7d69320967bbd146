"""Where one request's time goes: a trace of stage durations and of what the pipeline decided.

The pipeline marks its stages with ``stage("ranking")`` and reports its page with ``note_page``;
both write to the trace of the current request when one is open (``traced``) and cost nothing
otherwise, so the CLI, the tuner and tests run the same code without a trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

STAGES = (
    "feature_join",
    "user_context",
    "retrieval",
    "pixie",
    "ranking",
    "blend",
    "filters",
)


@dataclass
class RequestTrace:
    """Seconds spent per stage, and the page's surface, candidate count and fallbacks."""

    seconds: dict[str, float] = field(default_factory=dict)
    surface: str | None = None
    candidates: int | None = None
    fallback: str | None = None
    degraded_sources: list[str] = field(default_factory=list)


_current: ContextVar[RequestTrace | None] = ContextVar(
    "corkboard_request_trace", default=None
)


@contextmanager
def traced() -> Iterator[RequestTrace]:
    """Open a trace for the work done inside the block (and in threads that copy its context)."""
    trace = RequestTrace()
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def current_trace() -> RequestTrace | None:
    """The trace of the request being served, if one is open (the request log reads it)."""
    return _current.get()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the block's wall time to stage ``name`` of the current trace, if any."""
    trace = _current.get()
    if trace is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        trace.seconds[name] = trace.seconds.get(name, 0.0) + time.perf_counter() - start


def note_page(
    *, surface: str, candidates: int, fallback: str | None, degraded_sources: list[str]
) -> None:
    """Record what the pipeline served in the current trace, if any."""
    trace = _current.get()
    if trace is not None:
        trace.surface, trace.candidates = surface, candidates
        trace.fallback, trace.degraded_sources = fallback, list(degraded_sources)
