"""Running the API: one uvicorn process, or several worker processes that share its port.

Each worker loads its own serving state and answers whichever connections it accepts, so a page
uses one core's worth of Python however many clients wait; on a machine with a core to spare a
second worker serves about 1.5x the pages (docs/performance.md, "Eleventh round"). The workers share
a folder: their Prometheus samples meet there, so ``GET /metrics`` sums them whichever worker
answers, and so do reload stamps, so ``POST /v1/admin/reload`` reaches them all (reload_signal.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

METRICS_FOLDER_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's switch to per-process files
RELOAD_STAMP_ENV = "CORKBOARD_RELOAD_STAMP"  # service/reload_signal.py


def serve(*, host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Serve the API on ``host:port`` with ``workers`` processes until stopped. Requests are logged
    by the app itself (one JSON line each), so uvicorn's access log stays off."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    with _shared_folder(workers):
        uvicorn.run(
            "service.app:create_app", factory=True, host=host, port=port, workers=workers,
            log_level=log_level, access_log=False,
        )  # fmt: skip


@contextmanager
def _shared_folder(workers: int) -> Iterator[None]:
    """With several workers, a fresh folder for their metric files and reload stamps, named in the
    environment they inherit and removed after them."""
    if workers == 1:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="corkboard-serve-") as folder:
        shared = {METRICS_FOLDER_ENV: f"{folder}/metrics", RELOAD_STAMP_ENV: f"{folder}/reload"}
        os.mkdir(shared[METRICS_FOLDER_ENV])
        os.environ.update(shared)
        try:
            yield
        finally:
            for name in shared:
                del os.environ[name]
