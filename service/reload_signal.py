"""A reload that reaches every worker of one server (service/server.py): the worker that answers
``POST /v1/admin/reload`` stamps a file beside its siblings, and each of them loads the active
versions once it sees a stamp it has not seen."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import State

from core.atomic_files import atomic_path
from core.settings import get_settings
from service.server import RELOAD_STAMP_ENV
from service.state_loading import LOAD_ERRORS
from service.state_reload import reload_serving_state

log = logging.getLogger("corkboard.service")
POLL_SECONDS = 1.0


def stamp_file() -> Path | None:
    """The file the server's workers share, or None when this process serves alone."""
    path = os.environ.get(RELOAD_STAMP_ENV)
    return Path(path) if path else None


def announce_reload(holder: State) -> None:
    """Ask the other workers to load the active versions, as this one just did."""
    path = stamp_file()
    if path is None:
        return
    stamp = uuid.uuid4().hex
    holder.announced_stamps.add(stamp)  # before the write, so that this worker's poll never loads on it
    with atomic_path(path) as written:  # whole or not at all, for a sibling reading it
        written.write_text(stamp)


async def follow_reloads(app: FastAPI) -> None:
    """Each POLL_SECONDS, reload if a sibling announced a reload since the last look. A failed load
    keeps the state that serves, as a failed ``POST /v1/admin/reload`` does, and is logged.

    The last stamp seen is this loop's alone: ``announce_reload`` runs on a request thread between
    a poll's read and its comparison, so it records its own stamps in a set of their own."""
    path = stamp_file()
    if path is None:
        return
    seen = _read(path)  # this worker's start-up loaded what came before it
    while True:
        await asyncio.sleep(POLL_SECONDS)
        stamp = _read(path)
        if stamp == seen:
            continue
        seen = stamp
        if stamp in app.state.announced_stamps:
            continue
        try:
            fresh = await run_in_threadpool(reload_serving_state, app.state, get_settings())
        except LOAD_ERRORS as error:
            log.error("a sibling worker reloaded, this one could not and keeps its versions: %s", error)
        else:
            log.info("reloaded as a sibling worker did: %s", fresh.model_versions)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
