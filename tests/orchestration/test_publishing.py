"""One publishing path: an asset fits, saves and publishes through ``ArtifactStore.publish``, and
its version serves once its run is activated; an asset of a served vector kind refuses a config
of the wrong width before it reads anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import pytest
from dagster import AssetsDefinition, DagsterInstance, build_asset_context, build_run_status_sensor_context, materialize

from corkboard.materialize import materialize_and_activate

from models.embedding_width import EMBEDDING_DIM, EmbeddingWidthError
from models.pin_board_graph import GRAPH_KIND, load_mmap
from orchestration.activation import activate_serving_set
from orchestration.assets import embeddings, graph, text, two_tower
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Published
from tests.orchestration.fakes import FakeDatabase


@pytest.fixture
def database(tmp_path: Path) -> FakeDatabase:
    return FakeDatabase(ledger=str(tmp_path / "versions.json"))


def artifacts_on(database: FakeDatabase, data_dir: Path) -> ArtifactStore:
    return ArtifactStore(database=database, data_dir=str(data_dir))


def test_co_engagement_embeddings_publish_pin_and_user_vectors_served_once_the_run_is_activated(tmp_path, database):
    resources = {"database": database, "artifacts": artifacts_on(database, tmp_path)}
    with DagsterInstance.ephemeral() as instance:
        result = materialize_and_activate([embeddings.co_engagement_embeddings], resources=resources, instance=instance)
    metadata = result.asset_materializations_for_node("co_engagement_embeddings")[0].metadata
    [version] = database.versions()
    users = len(database.read_table("users", ("user_id",)))
    assert version["kind"] == embeddings.EMBEDDING_KIND and version["active"]
    assert version["run_id"] == result.run_id
    assert version["widths"] == {"pins": EMBEDDING_DIM, "users": EMBEDDING_DIM}
    assert version["loaded"] == {"pins": metadata["pins_with_vectors"].value, "users": users}
    assert 0 < metadata["pins"].value < len(database.read_table("pins", ("pin_id",)))  # only engaged pins
    assert metadata["version"].value == 1
    assert metadata["topic_agreement@10"].value > 3 * metadata["chance_topic_agreement"].value
    artifact = Path(version["artifact"])
    assert artifact.exists() and artifact.parent == tmp_path / "models" / embeddings.EMBEDDING_KIND


def test_published_versions_serve_only_when_their_run_is_activated_and_then_together(tmp_path, database):
    store = artifacts_on(database, tmp_path)
    first = store.publish("test_kind", store.new_path("test_kind", ".bin"), {"n": 1}, run_id="run-1")
    store.activate_run("run-1")
    second = store.publish("test_kind", store.new_path("test_kind", ".bin"), {"n": 2}, run_id="run-2")
    other = store.publish("other_kind", store.new_path("other_kind", ".bin"), {"n": 2}, run_id="run-2")
    assert (first.version, second.version, other.version) == (1, 2, 3) and first.artifact != second.artifact
    assert database.version_for_run("test_kind", "run-3").metrics == {"n": 1}  # another run sees the serving one
    assert database.version_for_run("test_kind", "run-2").metrics == {"n": 2}  # its own run sees its build
    assert [row["active"] for row in database.versions()] == [True, False, False]
    activated = store.activate_run("run-2")
    assert {(version.kind, version.version) for version in activated.versions} == {("test_kind", 2), ("other_kind", 3)}
    assert [row["active"] for row in database.versions()] == [False, True, True]


def test_the_graph_is_published_as_a_version_of_its_own(tmp_path, database):
    resources = {"database": database, "artifacts": artifacts_on(database, tmp_path)}
    with DagsterInstance.ephemeral() as instance:
        result = materialize_and_activate([graph.pin_board_graph], resources=resources, instance=instance)
    [version] = database.versions()
    assert version["kind"] == GRAPH_KIND and version["active"] and version["run_id"] == result.run_id
    served = load_mmap(Path(version["artifact"]))
    assert len(served.pin_ids) == version["metrics"]["pins"] == len(database.read_table("pins", ("pin_id",)))
    assert served.edges == version["metrics"]["edges"] > 0


def test_the_sensor_activates_a_succeeded_runs_whole_set(tmp_path, database):
    resources = {"database": database, "artifacts": artifacts_on(database, tmp_path)}
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [graph.pin_board_graph, embeddings.co_engagement_embeddings], resources=resources, instance=instance
        )
        assert [row["active"] for row in database.versions()] == [False, False]  # the run alone serves nothing
        with build_run_status_sensor_context(
            sensor_name=activate_serving_set.name,
            dagster_event=result.get_run_success_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources=resources,
        ) as context:
            activate_serving_set(context)
    assert {row["kind"] for row in database.versions() if row["active"]} == {GRAPH_KIND, embeddings.EMBEDDING_KIND}


def test_published_metadata_names_vectors_only_when_some_were_loaded():
    without = Published(version=3, artifact=Path("/m/a.pt"), pins=0, users=0, seconds=0.5).metadata()
    assert "pins" not in without and "users" not in without
    assert without["version"] == 3
    loaded = Published(3, Path("/m/a.pt"), 10, 0, 0.5).metadata()
    assert loaded["pins"] == 10 and "users" not in loaded


@pytest.mark.parametrize(
    ("module", "config_name", "asset", "uses_ray"),
    [
        (embeddings, "EMBEDDING_CONFIG", embeddings.co_engagement_embeddings, False),
        (text, "TEXT_CONFIG", text.pin_text_index, True),
        (two_tower, "ASSET_CONFIG", two_tower.two_tower_retrieval, True),
    ],
)
def test_a_served_kind_of_the_wrong_width_fails_before_reading_anything(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    module: ModuleType,
    config_name: str,
    asset: AssetsDefinition,
    uses_ray: bool,
):
    narrow = dataclasses.replace(getattr(module, config_name), dim=EMBEDDING_DIM // 2)
    monkeypatch.setattr(module, config_name, narrow)
    unreadable = FakeDatabase(world="absent", ledger=str(tmp_path / "versions.json"))  # every read would raise
    resources = {"database": unreadable, "artifacts": artifacts_on(unreadable, tmp_path)}
    with pytest.raises(EmbeddingWidthError, match=f"{EMBEDDING_DIM // 2} dimensions"):
        asset(build_asset_context(), **resources, **({"ray": RayCluster()} if uses_ray else {}))
    assert unreadable.versions() == [] and not (tmp_path / "models").exists()
