"""Several server processes (`corkboard serve --workers`): a reload that one worker answers reaches
its siblings, which share a stamp file (two apps in one process stand in for two workers); they
hold one copy of each large array; a worker that cannot start stops the server."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.main import STARTUP_FAILURE

from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from corkboard.bench.load import free_port
from service import reload_signal
from service.app import create_app
from service.server import RELOAD_STAMP_ENV, SHARED_ARRAYS_ENV
from service.shared_arrays import shared
from sql.migrate import migrated_engine
from sql.versions import activate_version, active_version, register_version
from tests.conftest import corkboard

ADMIN_KEY, ADMIN = new_api_key("operator", [Scope.READ, Scope.ADMIN])
PATIENCE_S = 30.0


def test_a_reload_answered_by_one_worker_reaches_the_other(materialized_tiny, monkeypatch, tmp_path):
    monkeypatch.setenv(RELOAD_STAMP_ENV, str(tmp_path / "reload"))
    monkeypatch.setattr(reload_signal, "POLL_SECONDS", 0.05)
    settings = get_settings().model_copy(update={"api_keys": (ADMIN,)})
    with TestClient(create_app()) as answering, TestClient(create_app()) as sibling:
        answering.app.dependency_overrides[get_settings] = lambda: settings
        sibling_before = sibling.app.state.serving

        response = answering.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})
        assert response.status_code == 200
        answered = answering.app.state.serving
        deadline = time.monotonic() + PATIENCE_S
        while sibling.app.state.serving is sibling_before and time.monotonic() < deadline:
            time.sleep(0.05)

        assert sibling.app.state.serving is not sibling_before
        assert sibling.app.state.serving.model_versions == response.json()["model_versions"]
        time.sleep(0.3)  # several polls: the answering worker does not load again on its own stamp
        assert answering.app.state.serving is answered


def test_a_reload_announced_during_a_poll_is_not_loaded_again_by_its_worker(monkeypatch, tmp_path):
    """The answering worker's request thread stamps the file between its own poll's read and that
    poll's comparison: the poll must still know the stamp for its own."""
    monkeypatch.setenv(RELOAD_STAMP_ENV, str(tmp_path / "reload"))
    monkeypatch.setattr(reload_signal, "POLL_SECONDS", 0.01)
    app = FastAPI()
    app.state.announced_stamps = set()
    loads = []
    monkeypatch.setattr(reload_signal, "reload_serving_state", lambda state, settings: loads.append(state))
    reads = 0
    read = reload_signal._read

    def read_then_announce(path: Path) -> str | None:
        nonlocal reads
        reads += 1
        stamp = read(path)
        if reads == 2:  # the first poll has read the old stamp; the answering request stamps now
            reload_signal.announce_reload(app.state)
        return stamp

    monkeypatch.setattr(reload_signal, "_read", read_then_announce)

    async def poll_a_while() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reload_signal.follow_reloads(app), timeout=0.2)

    asyncio.run(poll_a_while())
    assert reads > 3 and loads == []


@pytest.mark.parametrize("workers", [0, -1])
def test_serve_refuses_fewer_than_one_worker(workers):
    from service.server import serve

    with pytest.raises(ValueError, match="at least 1"):
        serve(host="127.0.0.1", port=0, workers=workers)


def test_a_worker_that_cannot_start_stops_the_server(materialized_tiny, tmp_path):
    """A corrupt model file stops `corkboard serve --workers 2` as it stops one process, rather than
    each worker being started again forever."""
    with migrated_engine().connect() as conn:
        serving = active_version(conn, kind="ranker")
    corrupt = tmp_path / "ranker.pt"
    corrupt.write_bytes(Path(serving.artifact).read_bytes()[:100])
    with migrated_engine().begin() as conn:
        version = register_version(conn, kind="ranker", artifact=str(corrupt), metrics={})
        activate_version(conn, kind="ranker", version=version)
    try:
        server = corkboard("serve", "--workers", "2", "--port", str(free_port()), check=False)
    finally:
        with migrated_engine().begin() as conn:
            activate_version(conn, kind="ranker", version=serving.version)
    assert server.returncode == STARTUP_FAILURE
    assert f"ranker version {version}" in server.stderr and "could not start" in server.stderr


def test_workers_hold_one_copy_of_each_large_array(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(SHARED_ARRAYS_ENV, raising=False)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert shared(vectors) is vectors  # a process serving alone keeps its own

    monkeypatch.setenv(SHARED_ARRAYS_ENV, str(tmp_path))
    first, second = shared(vectors), shared(vectors.copy())  # two workers, the same bytes
    assert np.array_equal(first, vectors) and first.dtype == vectors.dtype and not first.flags.writeable
    assert len(list(tmp_path.iterdir())) == 1
    shared(vectors.astype(np.float64))  # the same values in another type are other bytes
    shared(vectors.reshape(4, 3))  # and another shape another array
    assert len(list(tmp_path.iterdir())) == 3
    with pytest.raises(ValueError, match="read-only"):
        second[0, 0] = 1.0

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(SHARED_ARRAYS_ENV, str(tmp_path / "a-file"))  # a folder it cannot write to
    with caplog.at_level(logging.WARNING, logger="corkboard.service"):
        kept = shared(vectors)
    assert kept is vectors and "in this worker alone" in caplog.text
