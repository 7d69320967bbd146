"""Engagement-rate and profile features: offline tables for training, Feast online store for serving."""


from datetime import UTC, datetime

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from features.engagement_rates import engagement_snapshot_blocks, global_rates
from features.serving_snapshot import SNAPSHOT_KIND, write_serving_snapshot
from features.store import (
    apply_definitions,
    latest_offline_rows,
    materialize_online,
    profile_tables,
    write_offline_tables,
)
from orchestration.assets import RANKER_INPUTS
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.resources import ArtifactStore, Database, FeatureStoreResource

RATE_ACTIONS = ("impression", "click", "save", "long_click", "hide")


@asset(
    group_name="features",
    deps=[catalogue, raw_events],
    op_tags=RANKER_INPUTS,
    description="Daily per-pin and per-user engagement counts (7d/30d) with Beta-smoothed rates.",
)
def engagement_features(
    context: AssetExecutionContext, database: Database, feature_store: FeatureStoreResource
) -> MaterializeResult:
    events = database.read_actions(RATE_ACTIONS)
    pins = database.read_table("pins", ("pin_id", "creator_id", "category", "is_ad", "merchant_id", "created_at"))
    users = database.read_table("users", ("user_id", "country", "language", "age_bucket", "signup_at"))
    pin_profile, user_profile = profile_tables(pins, users)
    settings, means = feature_store.settings(), global_rates(events)
    rows = write_offline_tables(
        settings=settings,
        pin_engagement=engagement_snapshot_blocks(events, "pin", prior_means=means),
        user_engagement=engagement_snapshot_blocks(events, "user", prior_means=means),
        pin_profile=pin_profile,
        user_profile=user_profile,
        prior_means=means,
    )
    top_columns = ["pin_id", "impressions_30d", "saves_30d", "save_rate_30d"]
    latest = latest_offline_rows("pin_engagement", top_columns, settings)
    context.log.info(f"offline feature rows: {rows}")
    return MaterializeResult(
        metadata={
            **{f"{name}_rows": n for name, n in rows.items()},
            "top_pins_by_saves_30d": MetadataValue.md(latest.nlargest(10, "saves_30d").to_markdown(index=False)),
        }
    )


@asset(
    group_name="features",
    deps=[engagement_features],
    op_tags=RANKER_INPUTS,
    description="Feast apply + materialize: the latest feature row per user and pin in the online store; "
    "the same rows as a memory-mappable snapshot, a version served with the run's models.",
)
def online_features(
    context: AssetExecutionContext, feature_store: FeatureStoreResource, artifacts: ArtifactStore
) -> MaterializeResult:
    store = feature_store.store()
    apply_definitions(store)
    start, end = materialize_online(store, datetime.now(UTC))
    folder = artifacts.new_path(SNAPSHOT_KIND, "")
    rows = write_serving_snapshot(feature_store.settings().feature_dir, start, end, folder)
    published = artifacts.publish(SNAPSHOT_KIND, folder, rows, run_id=context.run.run_id)
    context.log.info(f"materialized online features up to {end:%Y-%m-%d %H:%M}; snapshot v{published.version}: {rows}")
    counts = {f"{key}_rows": n for key, n in rows.items()}
    return MaterializeResult(metadata={"materialized_until": end.isoformat(), **published.metadata(), **counts})
