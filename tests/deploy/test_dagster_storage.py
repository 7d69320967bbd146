"""The deployed Dagster instances keep runs, events and schedules in Postgres: each one's storage
section, loaded by Dagster against the session's embedded Postgres, records a real run there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.database import database_url
from tests.deploy.test_deploy import DEPLOY, K8S, compose, k8s_dagster_instance


@asset
def probe() -> int:
    return 1


def deployed_url(deployment: str) -> str:
    """The DAGSTER_PG_URL the deployment gives Dagster (compose's service, the cluster's Secret example)."""
    if deployment == "compose":
        return compose()["services"]["dagster-daemon"]["environment"]["DAGSTER_PG_URL"]
    lines = (K8S / "secrets.env.example").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("DAGSTER_PG_URL="))


def dagster_database(name: str, driver: str) -> str:
    """A fresh database ``name`` on the session's embedded server, as a URL with ``driver``."""
    server = make_url(database_url())
    with create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    return server.set(drivername=driver, database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("deployment", ["compose", "k8s"])
def test_the_deployed_storage_keeps_runs_events_and_schedules_in_postgres(
    deployment: str, session_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed = (
        yaml.safe_load((DEPLOY / "dagster" / "dagster.yaml").read_text())
        if deployment == "compose"
        else k8s_dagster_instance()
    )
    # The deployment's URL scheme (its driver), on this session's server.
    driver = make_url(deployed_url(deployment)).drivername
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_database(f"dagster_{deployment}", driver))
    # The deployment's storage as it is; its file folders (on /data there) under tmp_path here.
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"storage": deployed["storage"]}))
    instance = DagsterInstance.from_config(str(tmp_path))
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    result = materialize([probe], instance=instance)

    assert result.success
    reopened = DagsterInstance.from_config(str(tmp_path))  # what another pod or container reads
    assert reopened.get_run_by_id(result.run_id).is_success
    assert reopened.get_latest_materialization_event(AssetKey("probe")).run_id == result.run_id
    instance.dispose()
    reopened.dispose()
