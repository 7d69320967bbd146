"""Resource config: unset fields fall back to the settings, configured ones replace them, bad
values are refused, and the database URL is an EnvVar read when a run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from dagster import DagsterInstance, EnvVar, MaterializeResult, asset, materialize

from core.settings import get_settings
from orchestration.definitions import DATABASE_URL_VARIABLE, RESOURCES, configured_database_url
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource, OnlineStore, WorldSource

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
