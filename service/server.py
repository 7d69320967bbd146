"""Running the API: one uvicorn process, or several worker processes that share its port.

One process spends a page's Python on one core (the interpreter lock), however many clients wait.
Each worker loads the serving state and answers the connections it accepts, so on a machine with a
core to spare a second worker serves about 1.5x the pages (docs/performance.md, "Eleventh round").
The workers share a
folder: their Prometheus samples meet there, so ``GET /metrics`` sums them whichever worker answers;
so do reload stamps, so ``POST /v1/admin/reload`` reaches them all (reload_signal.py); and so do the
loaded state's largest arrays, held once for all of them (shared_arrays.py).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from socket import socket

import uvicorn
from uvicorn.main import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("corkboard.service")

METRICS_FOLDER_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's switch to per-process files
RELOAD_STAMP_ENV = "CORKBOARD_RELOAD_STAMP"  # service/reload_signal.py
SHARED_ARRAYS_ENV = "CORKBOARD_SHARED_ARRAYS"  # service/shared_arrays.py


def serve(*, host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve the API on ``host:port`` with ``workers`` processes until stopped. Requests are logged
    by the app itself (one JSON line each), so uvicorn's access log stays off. A worker that cannot
    start (a corrupt model file: service/app.py) stops the whole server with uvicorn's start-up
    failure status, as one process does."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config = uvicorn.Config(
        "service.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_level=log_level, access_log=False,
    )  # fmt: skip
    if workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # the app refused to start (or a signal came first)
            sys.exit(STARTUP_FAILURE)
        return
    with _shared_folder():
        supervisor = _Supervisor(config, target=partial(_run_worker, config), sockets=[config.bind_socket()])
        supervisor.run()
    if supervisor.failed_start:
        sys.exit(STARTUP_FAILURE)


def _run_worker(config: uvicorn.Config, sockets: list[socket] | None = None) -> None:
    server = uvicorn.Server(config)
    server.run(sockets)
    if not server.started:
        # Out at once: a worker still finalizing would miss the supervisor's ping, be taken for
        # hung, killed and started again, and its status lost with it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(STARTUP_FAILURE)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, which starts a dead worker again, except that a
    worker which could not start stops the server: every worker would load the same files."""

    failed_start = False

    def keep_subprocess_alive(self) -> None:
        for worker in self.processes:
            if worker.process.exitcode == STARTUP_FAILURE:
                log.error("worker %s could not start (its log says why): stopping the server", worker.pid)
                self.failed_start = True
                self.should_exit.set()
                return
        super().keep_subprocess_alive()


@contextmanager
def _shared_folder() -> Iterator[None]:
    """A fresh folder for the workers' metric files, reload stamps and shared arrays, named in the
    environment they inherit and removed after them."""
    with tempfile.TemporaryDirectory(prefix="corkboard-serve-") as folder:
        shared = {
            METRICS_FOLDER_ENV: f"{folder}/metrics", RELOAD_STAMP_ENV: f"{folder}/reload",
            SHARED_ARRAYS_ENV: f"{folder}/arrays",
        }  # fmt: skip
        os.mkdir(shared[METRICS_FOLDER_ENV])
        os.mkdir(shared[SHARED_ARRAYS_ENV])
        os.environ.update(shared)
        try:
            yield
        finally:
            for name in shared:
                del os.environ[name]
