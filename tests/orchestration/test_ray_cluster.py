"""The Ray resource: unset, the heavy steps stay in the step's process and nothing touches Ray;
``local``, dagster-ray connects the step to a Ray cluster it starts, and the step's batch
inference runs on its actors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dagster import build_init_resource_context

from core.settings import get_settings
from models.on_ray.training import RayTrainFit
from orchestration.ray_cluster import RayCluster

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
        np.testing.assert_array_equal(cluster.map_rows(np.square, np.arange(300)), np.arange(300) ** 2)
    assert not ray.is_initialized()  # the step's cluster goes with the step


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
    from sql.versions import active_version

    local = RayCluster(address="local", workers=2, ray_init_options={"num_cpus": 2, "include_dashboard": False})
    resources = {**RESOURCES, "ray": local}
    result = materialize_and_activate([pin_text_index], resources=resources, instance=dagster_instance())

    assert result.success
    with migrated_engine().connect() as conn:
        version = active_version(conn, kind=TEXT_KIND)
        query = f"SELECT pin_id, embedding::real[] AS embedding FROM {partition_name(version.version)} ORDER BY pin_id"
        stored = conn.execute(text(query))
        pin_ids, vectors = zip(*[(row.pin_id, np.asarray(row.embedding)) for row in stored])
        pins = read_table(conn, table="pins", columns=("pin_id", "title", "description", "category"))
    assert version.version == result.asset_materializations_for_node("pin_text_index")[0].metadata["version"].value
    pins = pins.sort_values("pin_id", ignore_index=True)
    assert list(pin_ids) == pins["pin_id"].tolist()
    here = embed_texts(load_text_tower(Path(version.artifact)), pin_texts(pins))
    np.testing.assert_allclose(np.stack(vectors), here, rtol=0, atol=1e-6)
