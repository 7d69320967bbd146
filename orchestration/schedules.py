"""Jobs and the daily schedule."""

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from orchestration.assets.ingest import raw_events

daily_events_job = define_asset_job("daily_events", selection=AssetSelection.assets(raw_events))
refresh_models_job = define_asset_job(
    "refresh_models", selection=AssetSelection.all() - AssetSelection.assets(raw_events)
)
# Each day, load yesterday's partition (the latest complete one).
daily_events_schedule = build_schedule_from_partitioned_job(daily_events_job, hour_of_day=1)
