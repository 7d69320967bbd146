"""Everything Dagster loads: assets (with their refresh policy), checks, jobs, schedules, sensors and resources."""

import os

from dagster import Definitions, EnvVar, ExecutorDefinition, load_assets_from_modules

from orchestration import checks
from orchestration.activation import activate_serving_set
from orchestration.assets import (
    embeddings, experiments, features, graph, ingest, pinsage, ranking, text, two_tower, visual,
)
from orchestration.assets.offline_evaluation import offline_evaluation
from orchestration.automation import automation_sensor, with_refresh_policy
from orchestration.drop_folder import drop_folder_sensor
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource, WorldSource
from orchestration.schedules import daily_events_job, daily_events_schedule, refresh_models_job

DATABASE_URL_VARIABLE = "CORKBOARD_DATABASE_URL"


def configured_database_url() -> EnvVar | None:
    """The database URL as an EnvVar where the variable exists, so Dagster reads its value when a
    run starts and never shows it; None without it: the embedded server under the data dir."""
    return EnvVar(DATABASE_URL_VARIABLE) if DATABASE_URL_VARIABLE in os.environ else None


database = Database(database_url=configured_database_url())
RESOURCES = {
    "database": database,
    "source": WorldSource(),
    "feature_store": FeatureStoreResource(database_url=configured_database_url()),
    "artifacts": ArtifactStore(database=database),
    "ray": RayCluster(),
}


def corkboard_definitions(executor: ExecutorDefinition | None = None) -> Definitions:
    """Every asset, check, job, schedule, sensor and resource, run by ``executor`` (unset: Dagster's
    default, steps in subprocesses of the run; the cluster's pod per step is orchestration.kubernetes)."""
    return Definitions(
        assets=[
            *with_refresh_policy(
                load_assets_from_modules(
                    [ingest, graph, features, embeddings, text, ranking, two_tower, pinsage, visual, experiments]
                )
            ),
            offline_evaluation,  # external: reported by `corkboard evaluate`
        ],
        asset_checks=checks.all_checks,
        jobs=[daily_events_job, refresh_models_job],
        schedules=[daily_events_schedule],
        sensors=[automation_sensor, checks.freshness_sensor, drop_folder_sensor, activate_serving_set],
        resources=RESOURCES,
        executor=executor,
    )


defs = corkboard_definitions()
