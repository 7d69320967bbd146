"""The CLI repository in features/repo follows CORKBOARD_DATA_DIR like the Python API does."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from feast.repo_config import load_repo_config

from core.settings import Settings
from features import store as feature_api
from features.offline_store import STORE_TYPE

REPO = Path(__file__).resolve().parents[2] / "features" / "repo"


def test_yaml_expands_the_data_dir(settings: Settings) -> None:
    config = load_repo_config(REPO, REPO / "feature_store.yaml")
    assert config.registry.path == f"{settings.data_dir}/features/registry.db"
    assert config.online_store.path == f"{settings.data_dir}/features/online.db"
    assert config.entity_key_serialization_version == 3
    assert config.offline_store.type == feature_api.feature_store(settings).config.offline_store.type == STORE_TYPE


def test_cli_definitions_read_sources_under_the_data_dir(settings: Settings) -> None:
    definitions = runpy.run_path(str(REPO / "definitions.py"))
    source = Path(definitions["pin_engagement"].batch_source.path)
    assert source == settings.feature_dir / "offline" / "pin_engagement.parquet"
    assert definitions["ranking"].name == "ranking"


def test_feast_cli_apply_registers_what_the_api_reads(settings: Settings) -> None:
    settings.feature_dir.mkdir(parents=True)
    feast = Path(sys.executable).with_name("feast")
    subprocess.run([str(feast), "-c", str(REPO), "apply"], check=True, capture_output=True)
    store = feature_api.feature_store(settings)
    assert {view.name for view in store.list_feature_views()} == {
        "pin_engagement",
        "user_engagement",
        "pin_profile",
        "user_profile",
    }
