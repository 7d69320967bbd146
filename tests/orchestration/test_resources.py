"""Resource config: unset fields fall back to the settings, configured ones replace them, bad
values are refused, and the database URL is an EnvVar read when a run starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from dagster import DagsterInstance, EnvVar, MaterializeResult, asset, materialize

from core.settings import get_settings
from orchestration.definitions import DATABASE_URL_VARIABLE, RESOURCES, configured_database_url
from orchestration.resources import (
    ArtifactStore,
    Database,
    FeatureStoreResource,
    OnlineStore,
    WorldOutsideRootError,
    WorldSource,
)

URL = "postgresql://corkboard:secret@db.example:5432/corkboard"


def test_unconfigured_resources_use_the_process_settings():
    for resource in RESOURCES.values():
        assert resource.settings() is get_settings()
    assert RESOURCES["artifacts"].database is RESOURCES["database"]


def test_configured_fields_replace_their_settings():
    resource = FeatureStoreResource(data_dir="/srv/corkboard", online_store=OnlineStore.POSTGRES, database_url=URL)
    settings = resource.settings()
    assert settings.data_dir == Path("/srv/corkboard") and settings.feature_dir == Path("/srv/corkboard/features")
    assert (settings.online_store, settings.database_url) == ("postgres", URL)
    assert settings.world == get_settings().world  # not a field of this resource
    assert WorldSource(world="tiny").name == "tiny"
    store = ArtifactStore(database=Database(), data_dir="/srv/corkboard")
    assert store.settings().model_dir == Path("/srv/corkboard/models")


def test_bad_values_are_refused():
    with pytest.raises(ValidationError, match="keep_previous"):
        ArtifactStore(database=Database(), keep_previous=-1)
    with pytest.raises(ValidationError, match="online_store"):
        FeatureStoreResource(online_store="mysql")


def test_the_database_url_is_an_env_var_only_where_one_is_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    assert configured_database_url() is None
    monkeypatch.setenv(DATABASE_URL_VARIABLE, URL)
    variable = configured_database_url()
    assert isinstance(variable, EnvVar) and variable.env_var_name == DATABASE_URL_VARIABLE


def test_an_env_var_is_read_when_the_run_starts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TEST_CORKBOARD_URL", raising=False)
    database = Database(database_url=EnvVar("TEST_CORKBOARD_URL"))  # unset while defined

    @asset
    def seen_url(database: Database) -> MaterializeResult:
        return MaterializeResult(metadata={"url": database.settings().database_url})

    monkeypatch.setenv("TEST_CORKBOARD_URL", URL)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([seen_url], resources={"database": database}, instance=instance)
    assert result.asset_materializations_for_node("seen_url")[0].metadata["url"].value == URL


# --- where a world may be read from -------------------------------------------------------------


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The process's data dir for this test, with no CORKBOARD_SOURCE_ROOT."""
    monkeypatch.setenv("CORKBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CORKBOARD_SOURCE_ROOT", raising=False)
    get_settings.cache_clear()
    (tmp_path / "data").mkdir()
    yield tmp_path / "data"
    monkeypatch.undo()
    get_settings.cache_clear()


def world_folder(path: Path) -> Path:
    """A folder with one table file in it (enough to be named as a world)."""
    path.mkdir(parents=True)
    (path / "events.csv").write_text("event_id\n")
    return path


def test_named_worlds_and_folders_under_the_data_dir_are_accepted(data_dir: Path):
    for name in ("tiny", "demo", "large", "ml100k"):
        assert WorldSource(world=name).name == name
    inside = world_folder(data_dir / "mine")
    assert WorldSource(world=str(inside)).name == str(inside.resolve())
    assert WorldSource(world=str(data_dir / "other" / ".." / "mine")).name == str(inside.resolve())


def test_folders_that_resolve_outside_the_root_are_refused(data_dir: Path, tmp_path: Path):
    outside = world_folder(tmp_path / "elsewhere")
    (data_dir / "link").symlink_to(outside)
    leaky = world_folder(data_dir / "leaky")
    (leaky / "pins.csv").symlink_to(outside / "events.csv")  # a file of the folder that points out
    escapes = [str(outside), str(data_dir / ".." / "elsewhere"), str(data_dir / "link"), str(leaky), "/etc"]
    for world in escapes:
        with pytest.raises(WorldOutsideRootError, match=f"is outside {data_dir.resolve()}.*CORKBOARD_SOURCE_ROOT"):
            WorldSource(world=world).name
    # The resource's own data_dir is UI config: it does not move the root.
    with pytest.raises(WorldOutsideRootError):
        WorldSource(world=str(outside), data_dir=str(tmp_path)).name


def test_the_source_root_setting_moves_the_root(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    landing = world_folder(tmp_path / "landing" / "week1")
    monkeypatch.setenv("CORKBOARD_SOURCE_ROOT", str(tmp_path / "landing"))
    get_settings.cache_clear()
    assert WorldSource(world=str(landing)).name == str(landing.resolve())
    with pytest.raises(WorldOutsideRootError):
        WorldSource(world=str(world_folder(data_dir / "mine"))).name


def test_a_run_configured_with_a_folder_outside_the_root_fails_before_reading_it(data_dir: Path, tmp_path: Path):
    outside = world_folder(tmp_path / "elsewhere")

    @asset
    def world_name(source: WorldSource) -> MaterializeResult:
        return MaterializeResult(metadata={"world": source.name})

    with DagsterInstance.ephemeral() as instance, pytest.raises(WorldOutsideRootError, match="is outside"):
        materialize([world_name], resources={"source": WorldSource(world=str(outside))}, instance=instance)
