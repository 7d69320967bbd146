"""One publishing path: an asset fits, saves and publishes through ``ArtifactStore.publish``; an
asset of a served vector kind refuses a config of the wrong width before it reads anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import pytest
from dagster import AssetsDefinition, DagsterInstance, build_asset_context, materialize

from models.embedding_width import EMBEDDING_DIM, EmbeddingWidthError
from orchestration.assets import embeddings, text, two_tower
from orchestration.resources import ArtifactStore, Published
from tests.orchestration.fakes import FakeDatabase


@pytest.fixture
def database(tmp_path: Path) -> FakeDatabase:
    return FakeDatabase(ledger=str(tmp_path / "versions.json"))


def artifacts_on(database: FakeDatabase, data_dir: Path) -> ArtifactStore:
    return ArtifactStore(database=database, data_dir=str(data_dir))


def test_co_engagement_embeddings_publish_pin_and_user_vectors_as_the_serving_version(tmp_path, database):
    resources = {"database": database, "artifacts": artifacts_on(database, tmp_path)}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([embeddings.co_engagement_embeddings], resources=resources, instance=instance)
    metadata = result.asset_materializations_for_node("co_engagement_embeddings")[0].metadata
    [version] = database.versions()
    users = len(database.read_table("users", ("user_id",)))
    assert version["kind"] == embeddings.EMBEDDING_KIND and version["active"]
    assert version["widths"] == {"pins": EMBEDDING_DIM, "users": EMBEDDING_DIM}
    assert version["loaded"] == {"pins": metadata["pins_with_vectors"].value, "users": users}
    assert 0 < metadata["pins"].value < len(database.read_table("pins", ("pin_id",)))  # only engaged pins
    assert metadata["version"].value == 1 and metadata["pruned_versions"].value == []
    assert metadata["topic_agreement@10"].value > 3 * metadata["chance_topic_agreement"].value
    artifact = Path(version["artifact"])
    assert artifact.exists() and artifact.parent == tmp_path / "models" / embeddings.EMBEDDING_KIND
    assert database.active_version(embeddings.EMBEDDING_KIND).artifact == str(artifact)


def test_a_second_publish_of_a_kind_takes_over_serving(tmp_path, database):
    store = artifacts_on(database, tmp_path)
    first, second = (store.publish("test_kind", store.new_path("test_kind", ".bin"), {"n": n}) for n in (1, 2))
    assert (first.version, second.version) == (1, 2) and first.artifact != second.artifact
    assert database.active_version("test_kind").metrics == {"n": 2}
    assert [row["active"] for row in database.versions()] == [False, True]


def test_published_metadata_names_vectors_only_when_some_were_loaded():
    without = Published(version=3, artifact=Path("/m/a.pt"), pins=0, users=0, pruned=[1], seconds=0.5).metadata()
    assert "pins" not in without and "users" not in without
    assert without["version"] == 3 and without["pruned_versions"].value == [1]
    loaded = Published(3, Path("/m/a.pt"), 10, 0, [], 0.5).metadata()
    assert loaded["pins"] == 10 and "users" not in loaded


@pytest.mark.parametrize(
    ("module", "config_name", "asset"),
    [
        (embeddings, "EMBEDDING_CONFIG", embeddings.co_engagement_embeddings),
        (text, "TEXT_CONFIG", text.pin_text_index),
        (two_tower, "ASSET_CONFIG", two_tower.two_tower_retrieval),
    ],
)
def test_a_served_kind_of_the_wrong_width_fails_before_reading_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: ModuleType, config_name: str, asset: AssetsDefinition
):
    narrow = dataclasses.replace(getattr(module, config_name), dim=EMBEDDING_DIM // 2)
    monkeypatch.setattr(module, config_name, narrow)
    unreadable = FakeDatabase(world="absent", ledger=str(tmp_path / "versions.json"))  # every read would raise
    with pytest.raises(EmbeddingWidthError, match=f"{EMBEDDING_DIM // 2} dimensions"):
        asset(build_asset_context(), database=unreadable, artifacts=artifacts_on(unreadable, tmp_path))
    assert unreadable.versions() == [] and not (tmp_path / "models").exists()
