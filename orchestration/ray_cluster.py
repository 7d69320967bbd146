"""The Ray cluster the heavy steps run on, as a dagster-ray resource.

``CORKBOARD_RAY_ADDRESS`` (or the resource's ``address``) unset: nothing connects and the assets
compute in their own process, as on one machine. ``local``: dagster-ray starts a Ray cluster on the
step's machine for the step (or, when ``corkboard materialize`` runs several steps at once, one
cluster for the whole run: ``one_cluster_for_the_run``). An address
(``ray://corkboard-ray-head-svc:10001``, deploy/k8s/ray.yaml): the step joins that running cluster
through Ray Client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from dagster import InitResourceContext
from dagster_ray import RayResource
from dagster_ray.types import AnyDagsterContext
from pydantic import Field, PrivateAttr

from core.settings import Settings
from models.batch_inference import RowFunction, map_here
from models.on_ray.batch_inference import map_rows
from models.on_ray.training import RayTrainFit
from orchestration.resources import settings_with

if TYPE_CHECKING:
    from ray._private.worker import BaseContext

LOCAL = "local"
# Ray starts its workers at niceness 15 (its `worker_niceness`), below every other process. A
# cluster started here shares the machine's cores with the steps that compute in their own
# processes and with Postgres, so its workers ran only on what those left over.
WORKER_NICENESS = "RAY_worker_niceness"


@contextlib.contextmanager
def _starting_here(local: bool) -> Iterator[None]:
    """While a cluster starts on this machine (``local``): its workers to run at the machine's
    normal priority (the raylet reads ``WORKER_NICENESS`` from the environment it starts in). Only
    that variable is restored after: ``ray.init`` adds others (``RAY_AUTH_MODE``) that joining steps need."""
    before = os.environ.get(WORKER_NICENESS)
    if local:
        os.environ[WORKER_NICENESS] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(WORKER_NICENESS, None)
        else:
            os.environ[WORKER_NICENESS] = before


class RayCluster(RayResource):
    """A Ray cluster to connect to for the step, or none (see the module's docstring)."""

    address: str | None = Field(
        default=None, description="local, a Ray address (ray://host:10001), or unset: CORKBOARD_RAY_ADDRESS."
    )
    workers: int | None = Field(
        default=None, ge=1, description="Ray Train workers and Ray Data actors; unset: CORKBOARD_RAY_WORKERS."
    )

    _settings: Settings | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        """The process settings, with ``address`` and ``workers`` in place of their own where configured
        (as orchestration.resources.CorkboardResource does; ``ray_address`` is dagster-ray's name);
        read on first use, then kept."""
        if self._settings is None:
            fields = (("ray_address", self.address), ("ray_workers", self.workers))
            self._settings = settings_with({name: value for name, value in fields if value is not None})
        return self._settings

    @property
    def configured_address(self) -> str | None:
        return self.settings().ray_address

    @property
    def enabled(self) -> bool:
        """Whether the heavy steps run on Ray."""
        return self.configured_address is not None

    @property
    def worker_count(self) -> int:
        return self.settings().ray_workers

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.configured_address == LOCAL else str(self.configured_address)

    @property
    def ray_address(self) -> str | None:  # type: ignore[override]
        """What ``ray.init`` gets: None starts a local cluster."""
        return None if self.configured_address == LOCAL else self.configured_address

    @property
    def name(self) -> str:
        return f"Ray cluster {self.configured_address}"

    @property
    def created(self) -> bool:  # a local cluster starts on connect; a remote one is already up
        return True

    @property
    def ready(self) -> bool:
        return True

    def connect(self, context: AnyDagsterContext) -> BaseContext:
        """dagster-ray's ``ray.init``; a cluster it starts here (``local``) runs its workers at normal priority."""
        with _starting_here(self.configured_address == LOCAL):
            return super().connect(context)

    @contextlib.contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Generator[RayCluster, None, None]:
        """Connected for the step's duration (dagster-ray's lifecycle), or untouched when disabled."""
        if not self.enabled:
            yield self
            return
        with super().yield_for_execution(context) as connected:
            yield connected

    def map_rows(self, function: RowFunction, inputs: np.ndarray) -> np.ndarray:
        """``function(inputs)``: on Ray Data actors when enabled, else here."""
        return map_rows(function, inputs, workers=self.worker_count) if self.enabled else map_here(function, inputs)

    def train_fit(self, storage: Path) -> RayTrainFit | None:
        """Ray Train for a recommender, checkpointing under ``storage``; None when disabled (train here)."""
        return RayTrainFit(self.worker_count, storage) if self.enabled else None


@contextlib.contextmanager
def one_cluster_for_the_run(settings: Settings) -> Iterator[dict[str, str]]:
    """For a run of several steps at once on this machine: with ``ray_address`` ``local``, one Ray
    cluster started here for the whole run, and the environment that makes each step join it (its
    address as ``CORKBOARD_RAY_ADDRESS``), where each step would start a cluster of its own sized to
    the whole machine (on the large world, two of them ran the machine out of memory); stopped when
    the run ends. Otherwise nothing starts and the environment stays as it is."""
    if settings.ray_address != LOCAL:
        yield {}
        return
    import ray

    with _starting_here(local=True):
        context = ray.init(include_dashboard=False)
    try:
        yield {"CORKBOARD_RAY_ADDRESS": context.address_info["gcs_address"]}
    finally:
        ray.shutdown()
