"""Materialize the whole Dagster asset graph in process, the way the CLI and tests do."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetsDefinition, DagsterInstance, ExecuteInProcessResult, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import get_settings

Progress = Callable[[str], None]


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
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

    run_ids = []

    def run(selection: list, step: str, tags: dict[str, str] | None = None) -> None:
        progress(step)
        result = materialize_and_activate(
            [*assets, *defs.asset_checks], selection=selection, resources=resources,
            instance=instance, tags=tags, run_config=quiet,
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
    run(rest, "[3/3] graph, features, embeddings, text index, ranker")
    return MaterializedWorld(tuple(run_ids), len(world_events))
