"""Everything Dagster loads: assets, checks, jobs, schedules and resources."""

from dagster import Definitions, load_assets_from_modules

from orchestration import checks
from orchestration.assets import embeddings, features, graph, ingest, ranking, text, two_tower, visual
from orchestration.assets.offline_evaluation import offline_evaluation
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource, WorldSource
from orchestration.schedules import daily_events_job, daily_events_schedule, refresh_models_job

RESOURCES = {
    "database": Database(),
    "source": WorldSource(),
    "feature_store": FeatureStoreResource(),
    "artifacts": ArtifactStore(),
}

defs = Definitions(
    assets=[
        *load_assets_from_modules([ingest, graph, features, embeddings, text, ranking, two_tower, visual]),
        offline_evaluation,  # external: reported by `corkboard evaluate`
    ],
    asset_checks=checks.all_checks,
    jobs=[daily_events_job, refresh_models_job],
    schedules=[daily_events_schedule],
    resources=RESOURCES,
)
