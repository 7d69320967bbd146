"""Swapping a freshly loaded serving state in, whole, while requests go on."""

from __future__ import annotations

import threading

from starlette.datastructures import State

from core.memory import release_freed_memory
from core.settings import Settings
from service.serving_state import ServingState
from service.state_loading import open_serving_state

_swap = threading.Lock()  # one load at a time, so the newest request to reload wins last


def reload_serving_state(holder: State, settings: Settings) -> ServingState:
    """Load the serving set afresh (the models and the pin-board graph of one activation) and put it
    in ``holder.serving`` in one assignment, so each request sees the old state or the new one,
    never a mix. On failure (one of ``state_loading.LOAD_ERRORS``; a damaged pin-board graph is a
    ModelFileError, as a damaged model file is) nothing changes: ``holder.serving`` keeps the
    state it had."""
    with _swap:
        fresh = open_serving_state(settings)
        holder.serving, holder.not_ready_reason = fresh, None
    release_freed_memory()  # loading read and dropped whole tables: 65 MB of heap on demo
    return fresh
