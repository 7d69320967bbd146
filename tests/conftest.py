"""Shared fixtures: an isolated data dir per test session, with its own embedded Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.openblas_kernels import prefer_kernels_by_flags

prefer_kernels_by_flags()  # numpy in the tests runs the kernels it runs under the CLI: before it loads

import torch  # noqa: E402

from core.database import _engine_for, stop_embedded_postgres  # noqa: E402
from core.settings import get_settings  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    """Small torch ops on a busy 2-core machine run several times faster on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def use_data_dir(data_dir: Path) -> None:
    """Point settings (and so the engine, Feast and Dagster) at ``data_dir`` from now on."""
    os.environ["CORKBOARD_DATA_DIR"] = str(data_dir)
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster")
    get_settings.cache_clear()
    _engine_for.cache_clear()


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data dir for the session; its Postgres is stopped at the end."""
    data_dir = tmp_path_factory.mktemp("corkboard")
    use_data_dir(data_dir)
    # Materializations inside the test process run one step after another; `materialized_tiny` runs
    # the CLI's default, two steps at a time (on tiny 44 s, against 49 s one at a time: performance.md).
    os.environ["CORKBOARD_MATERIALIZE_CONCURRENCY"] = "1"
    yield data_dir
    stop_embedded_postgres(data_dir / "postgres")


def corkboard(*args: str, check: bool = True, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``corkboard`` command with the session's environment, and ``environment``."""
    command = [str(Path(sys.executable).with_name("corkboard")), *args]
    env = {**os.environ, **environment}
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=600, env=env)


@pytest.fixture(scope="session")
def materialized_tiny(session_data_dir: Path) -> Path:
    """The tiny world materialized once through the CLI on the session's fresh data dir, two steps
    at a time as by default."""
    result = corkboard("materialize", "--world", "tiny", check=False, CORKBOARD_MATERIALIZE_CONCURRENCY="2")
    assert result.returncode == 0, result.stderr[-4000:]
    return session_data_dir
