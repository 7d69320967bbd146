"""The Ray resource: unset, the heavy steps stay in the step's process and nothing touches Ray;
``local``, dagster-ray connects the step to a Ray cluster it starts, whose workers run at this
process's priority, and the step's batch inference runs on its actors, and the steps of a run at
once share one; a training that fails on it fails the step and publishes nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance, build_init_resource_context

from core.settings import get_settings
from corkboard.materialize import materialize_and_activate
from models.on_ray.training import RayTrainFit
from orchestration.assets import pinsage
from orchestration.ray_cluster import RayCluster, one_cluster_for_the_run
from orchestration.resources import ArtifactStore
from tests.models.test_on_ray import training_workers_killed_once_busy
from tests.orchestration.fakes import FakeDatabase

ray = pytest.importorskip("ray", reason="ray is not installed")


@pytest.fixture
def ray_address(monkeypatch: pytest.MonkeyPatch):
    """Sets CORKBOARD_RAY_ADDRESS (None: unsets it) for the test's settings."""

    def use(address: str | None) -> None:
        if address is None:
            monkeypatch.delenv("CORKBOARD_RAY_ADDRESS", raising=False)
        else:
            monkeypatch.setenv("CORKBOARD_RAY_ADDRESS", address)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def workers_niceness() -> int:
    """The niceness a task of the connected cluster runs at (Ray's default for its workers is 15)."""
    return ray.get(ray.remote(lambda: os.nice(0)).remote())


def test_unset_keeps_the_heavy_steps_in_process(ray_address, tmp_path: Path) -> None:
    ray_address(None)
    resource = RayCluster()
    with resource.yield_for_execution(build_init_resource_context()) as cluster:
        assert not cluster.enabled and not ray.is_initialized()
        np.testing.assert_array_equal(cluster.map_rows(np.square, np.arange(5)), np.arange(5) ** 2)
        assert cluster.train_fit(tmp_path) is None
    assert not ray.is_initialized()


def test_an_address_is_joined_and_local_starts_a_cluster(ray_address, tmp_path: Path) -> None:
    ray_address("ray://ray-head.example:10001")
    joined = RayCluster(workers=3)
    assert joined.enabled and joined.ray_address == "ray://ray-head.example:10001"
    assert joined.train_fit(tmp_path) == RayTrainFit(3, tmp_path)

    ray_address("local")
    local = RayCluster(workers=2, ray_init_options={"num_cpus": 2, "include_dashboard": False})
    assert local.ray_address is None  # ray.init starts a cluster
    with local.yield_for_execution(build_init_resource_context()) as cluster:
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        assert workers_niceness() == os.nice(0)  # beside the steps and Postgres, not below them
        np.testing.assert_array_equal(cluster.map_rows(np.square, np.arange(300)), np.arange(300) ** 2)
    assert not ray.is_initialized()  # the step's cluster goes with the step


JOIN_PROBE = """
import ray
from dagster import build_init_resource_context
from orchestration.ray_cluster import RayCluster

with RayCluster(workers=1).yield_for_execution(build_init_resource_context()):
    print(ray.get_runtime_context().gcs_address, len(ray.nodes()))
"""


def test_steps_run_at_once_join_one_local_cluster_for_the_run(ray_address) -> None:
    """``local`` for a run of several step processes: one cluster, started for the run, which each
    step's resource joins instead of starting its own; gone when the run ends."""
    ray_address(None)
    with one_cluster_for_the_run(get_settings()) as environment:
        assert environment == {} and not ray.is_initialized()

    ray_address("local")
    with one_cluster_for_the_run(get_settings()) as environment:
        address = ray.get_runtime_context().gcs_address
        assert environment == {"CORKBOARD_RAY_ADDRESS": address}
        assert workers_niceness() == os.nice(0) and "RAY_worker_niceness" not in os.environ
        steps = [
            subprocess.run(
                [sys.executable, "-c", JOIN_PROBE], env={**os.environ, **environment},
                capture_output=True, text=True, check=True, timeout=120,
            ).stdout.split()
            for _ in range(2)
        ]
        assert steps == [[address, "1"], [address, "1"]]  # both joined this cluster, of one node
    assert not ray.is_initialized()


def test_the_text_index_embeds_every_pin_on_ray_and_publishes_them(materialized_tiny: Path) -> None:
    """The asset with a local Ray cluster of 2 workers: its pgvector partition holds, for every pin,
    the vector its saved text tower gives in one process."""
    from sqlalchemy import text

    from corkboard.materialize import dagster_instance, materialize_and_activate
    from models.text_tower import embed_texts, load_text_tower, pin_texts
    from orchestration.assets.text import TEXT_KIND, pin_text_index
    from orchestration.definitions import RESOURCES
    from sql.catalogue import read_table
    from sql.embeddings import partition_name
    from sql.migrate import migrated_engine
    from sql.versions import activate_version, active_version

    local = RayCluster(address="local", workers=2, ray_init_options={"num_cpus": 2, "include_dashboard": False})
    resources = {**RESOURCES, "ray": local}
    with migrated_engine().connect() as conn:
        served = active_version(conn, kind=TEXT_KIND)
    assert served is not None
    try:
        result = materialize_and_activate([pin_text_index], resources=resources, instance=dagster_instance())

        assert result.success
        with migrated_engine().connect() as conn:
            version = active_version(conn, kind=TEXT_KIND)
            partition = partition_name(version.version)
            stored = conn.execute(text(f"SELECT pin_id, embedding::real[] AS embedding FROM {partition} ORDER BY pin_id"))
            pin_ids, vectors = zip(*[(row.pin_id, np.asarray(row.embedding)) for row in stored])
            pins = read_table(conn, table="pins", columns=("pin_id", "title", "description", "category"))
        assert version.version == result.asset_materializations_for_node("pin_text_index")[0].metadata["version"].value
        pins = pins.sort_values("pin_id", ignore_index=True)
        assert list(pin_ids) == pins["pin_id"].tolist()
        here = embed_texts(load_text_tower(Path(version.artifact)), pin_texts(pins))
        np.testing.assert_allclose(np.stack(vectors), here, rtol=0, atol=1e-6)
    finally:  # later modules search with the text tower the session's ranker was trained beside
        with migrated_engine().begin() as conn:
            activate_version(conn, kind=TEXT_KIND, version=served.version)


def test_a_training_that_fails_on_ray_fails_the_asset_and_the_served_version_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PinSAGE on a local Ray cluster of 2 workers, each Ray Train worker killed once busy, on the
    first try and on the one retry: the asset fails naming the training, and the served pinsage
    version, the versions ledger and the model folder stay as they were."""
    database = FakeDatabase(ledger=str(tmp_path / "versions.json"))
    artifacts = ArtifactStore(database=database, data_dir=str(tmp_path))
    served = artifacts.new_path(pinsage.PINSAGE_KIND, ".safetensors")
    served.write_bytes(b"the serving model")
    artifacts.publish(pinsage.PINSAGE_KIND, served, {}, run_id="earlier")
    artifacts.activate_run("earlier")
    before = database.versions()
    # 30 epochs without early stopping: far longer than the 4 CPU seconds at which a worker dies
    monkeypatch.setattr(pinsage, "ASSET_CONFIG", dataclasses.replace(pinsage.ASSET_CONFIG, patience=30))
    local = RayCluster(address="local", workers=2, ray_init_options={"num_cpus": 2, "include_dashboard": False})
    resources = {"database": database, "artifacts": artifacts, "ray": local}

    with DagsterInstance.ephemeral() as instance, training_workers_killed_once_busy(4.0, kills=4) as killed:
        result = materialize_and_activate(
            [pinsage.pinsage_embeddings], resources=resources, instance=instance, raise_on_error=False
        )

    assert not result.success and len(killed) >= 2
    error = result.failure_data_for_node("pinsage_embeddings").error.to_string()
    assert "pinsage training on Ray failed (2 workers, 1 restarts allowed)" in error
    assert database.versions() == before and database.version_for_run(pinsage.PINSAGE_KIND, result.run_id).active
    folder = tmp_path / "models" / pinsage.PINSAGE_KIND
    assert list(folder.glob("*.safetensors")) == [served] and not any(folder.rglob("model.safetensors"))
