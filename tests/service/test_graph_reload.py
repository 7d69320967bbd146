"""A damaged pin-board graph save: refused by the handle, survived by the service's reload task."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import service.app
from models.pin_board_graph import POINTER, GraphFileError, GraphHandle, current_version
from tests.models.test_pin_board_graph import small_graph

WAIT_SECONDS = 30  # far above the patched reload period: only a dead task exceeds it


def truncated_save(folder: Path) -> str:
    """A copy of the current version with one array cut in half, made current; returns its name."""
    damaged = folder / "v99999999999999999999-damaged"
    shutil.copytree(folder / current_version(folder), damaged)
    array = damaged / "board_pins.npy"
    array.write_bytes(array.read_bytes()[: array.stat().st_size // 2])
    (folder / POINTER).write_text(damaged.name)
    return damaged.name


def test_the_handle_refuses_a_damaged_save_and_keeps_its_graph(tmp_path):
    folder = tmp_path / "graph"
    small_graph().save(folder)
    handle = GraphHandle(folder)
    held_version, held = handle.version, handle.graph

    truncated_save(folder)
    with pytest.raises(GraphFileError, match="damaged: "):
        handle.reload_if_changed()
    assert (handle.version, handle.graph) == (held_version, held)

    good = small_graph()
    outside = dataclasses.replace(good, board_pins=good.board_pins + len(good.pin_ids))  # rows past the last pin
    outside.save(folder)
    with pytest.raises(GraphFileError, match="point outside"):
        handle.reload_if_changed()
    assert handle.version == held_version

    small_graph(extra_pin=True).save(folder)
    assert handle.reload_if_changed() and len(handle.graph.pin_ids) == 4


def test_the_reload_task_survives_a_damaged_save_and_takes_the_next_good_one(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "graph"
    small_graph().save(folder)
    handle = GraphHandle(folder)
    app = SimpleNamespace(state=SimpleNamespace(serving=SimpleNamespace(graph=handle)))
    monkeypatch.setattr(service.app, "GRAPH_RELOAD_SECONDS", 0.01)
    caplog.set_level(logging.WARNING, logger="corkboard.service")

    async def until(condition, task: asyncio.Task) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        task = asyncio.create_task(service.app._reload_graph_forever(app))
        kept = handle.version
        truncated_save(folder)
        failures = lambda: [r for r in caplog.records if "pin-board graph reload failed" in r.getMessage()]
        await until(lambda: len(failures()) >= 2, task)  # failed, and tried again
        assert handle.version == kept
        fresh = small_graph(extra_pin=True).save(folder)
        await until(lambda: handle.version == fresh.name, task)
        task.cancel()

    asyncio.run(scenario())
    assert len(handle.graph.pin_ids) == 4
