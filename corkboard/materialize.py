"""Materialize the whole Dagster asset graph, the way the CLI and tests do: the catalogue and the
events in process, then the rest with ``materialize_concurrency`` steps at once."""

from __future__ import annotations

import multiprocessing.forkserver
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock

from dagster import (
    AssetKey, AssetsDefinition, DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition,
    define_asset_job, execute_job, materialize, reconstructable,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import get_settings

if TYPE_CHECKING:  # imported by the functions that need it: the CLI starts without Dagster's definitions
    from orchestration.resources import ArtifactStore

Progress = Callable[[str], None]
WORLD_JOB = "world"
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
# Each step's process is forked from one server that imported the definitions (Dagster, Feast, torch,
# DGL: 6.6 s) once, instead of importing them again itself.
PRELOADED_STEP_PROCESSES = {"forkserver": {"preload_modules": ["orchestration.definitions"]}}


def dagster_instance() -> DagsterInstance:
    """The persistent instance under the data dir, so `corkboard ui` shows the CLI's runs."""
    home = os.environ.setdefault("DAGSTER_HOME", str((get_settings().data_dir / "dagster").resolve()))
    os.makedirs(home, exist_ok=True)
    return DagsterInstance.get()


def materialize_and_activate(
    assets: Sequence[Any], *, resources: Mapping[str, Any], **options: Any
) -> ExecuteInProcessResult:
    """``dagster.materialize`` in process, then, once the run has succeeded, its published versions
    activated together by ``resources["artifacts"]`` (what the ``activate_serving_set`` sensor does
    for runs the daemon sees; it never sees in-process runs)."""
    result = materialize(assets, resources=resources, **options)
    if result.success:
        resources["artifacts"].activate_run(result.run_id)
    return result


def world_job() -> JobDefinition:
    """Every asset and check as one job; each step's process rebuilds it from this function."""
    from orchestration.definitions import defs

    return Definitions.merge(defs, Definitions(jobs=[define_asset_job(WORLD_JOB)])).resolve_job_def(WORLD_JOB)


def materialize_concurrently(
    keys: Sequence[AssetKey], *, world: str, concurrency: int, instance: DagsterInstance, artifacts: ArtifactStore
) -> str:
    """Materialize ``keys`` of ``world`` (and their checks) as one run of ``world_job``, at most
    ``concurrency`` steps at once, each in a process of its own (forked from one that imported the
    definitions) on its share of the cores (torch, BLAS and OpenMP read ``OMP_NUM_THREADS`` at start); ``artifacts``
    activates what the run published once it has succeeded. With ``CORKBOARD_RAY_ADDRESS=local`` the
    steps share one Ray cluster (``one_cluster_for_the_run``). Returns the run id; raises when a step
    failed."""
    from orchestration.ray_cluster import one_cluster_for_the_run

    run_config = {
        **QUIET,
        "resources": {"source": {"config": {"world": world}}},
        "execution": {
            "config": {"multiprocess": {"max_concurrent": concurrency, "start_method": PRELOADED_STEP_PROCESSES}}
        },
    }
    threads = str(max(1, (os.cpu_count() or 1) // concurrency))
    try:
        with one_cluster_for_the_run(get_settings()) as ray_environment, mock.patch.dict(
            os.environ, {"OMP_NUM_THREADS": threads, **ray_environment}
        ):
            result = execute_job(
                reconstructable(world_job), instance, run_config=run_config, asset_selection=list(keys)
            )
    finally:
        # The fork server keeps the environment (data dir, threads) it started with; the next run starts its own.
        multiprocessing.forkserver._forkserver._stop()
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.is_step_failure]
        raise RuntimeError(f"run {result.run_id} failed in {failed or 'its set-up'}; nothing of it is served")
    artifacts.activate_run(result.run_id)
    return result.run_id


@dataclass(frozen=True)
class MaterializedWorld:
    """What ``materialize_world`` ran: its Dagster runs in order, and the world's event count."""

    run_ids: tuple[str, ...]
    events: int


def materialize_world(world: str, *, progress: Progress = print) -> MaterializedWorld:
    """Load ``world`` and rebuild every asset: catalogue, all event days, features, models, index;
    not the experiments' assets, which measure served pages and replay the serving set."""
    from orchestration.assets.experiments import experiment_outcomes, utility_tuning
    from orchestration.assets.ingest import catalogue, raw_events
    from orchestration.definitions import RESOURCES, defs
    from orchestration.resources import WorldSource

    resources = {**RESOURCES, "source": WorldSource(world=world)}
    assets = [a for a in defs.assets if isinstance(a, AssetsDefinition)]
    instance = dagster_instance()

    run_ids = []

    def run(selection: list, step: str, tags: dict[str, str] | None = None) -> None:
        progress(step)
        result = materialize_and_activate(
            [*assets, *defs.asset_checks], selection=selection, resources=resources,
            instance=instance, tags=tags, run_config=QUIET,
        )
        run_ids.append(result.run_id)

    run([catalogue], f"[1/3] catalogue of world {world!r}")
    world_events = WorldSource(world=world).load()[0].events["ts"]
    first, last = world_events.min().date().isoformat(), world_events.max().date().isoformat()
    run(
        [raw_events], f"[2/3] events {first} .. {last}",
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )
    done_apart = {asset.key for asset in (catalogue, raw_events, experiment_outcomes, utility_tuning)}
    rest = [a for a in assets if a.key not in done_apart]
    concurrency = get_settings().materialize_concurrency
    step = "[3/3] graph, features, embeddings, text index, ranker"
    if concurrency == 1:
        run(rest, step)
    else:
        progress(f"{step} ({concurrency} steps at once, each in a process of its own)")
        keys = [key for asset in rest for key in asset.keys]
        run_ids.append(
            materialize_concurrently(
                keys, world=world, concurrency=concurrency, instance=instance, artifacts=resources["artifacts"]
            )
        )
    return MaterializedWorld(tuple(run_ids), len(world_events))
