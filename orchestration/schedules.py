"""Jobs and the daily schedule. The nightly retrain is the refresh policy (orchestration/automation.py);
refresh_models stays as the job that retrains everything at once, by hand."""

from dagster import AssetSelection, DefaultScheduleStatus, build_schedule_from_partitioned_job, define_asset_job

from orchestration.assets.ingest import raw_events

daily_events_job = define_asset_job("daily_events", selection=AssetSelection.assets(raw_events))
# Not the experiments: the tuner replays the serving set, which this job's models replace once it succeeds.
refresh_models_job = define_asset_job(
    "refresh_models",
    selection=AssetSelection.all() - AssetSelection.assets(raw_events) - AssetSelection.groups("experiments"),
)
# Each day, load yesterday's partition (the latest complete one); on by default like the sensors,
# since the refresh policy starts from the new day.
daily_events_schedule = build_schedule_from_partitioned_job(
    daily_events_job, hour_of_day=1, default_status=DefaultScheduleStatus.RUNNING
)
