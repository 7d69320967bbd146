"""Asset checks: the data is there, complete, unique and fresh."""


import warnings
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    DefaultSensorStatus,
    SupersessionWarning,
    asset_check,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)
from sqlalchemy import text

from orchestration.assets.embeddings import EMBEDDING_KIND, pin_vector_index
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.automation import RETRAINED_NIGHTLY
from orchestration.resources import Database

FRESHNESS = timedelta(days=2)
# A model is stale once its nightly retrain (RETRAIN_CRON) is more than six hours late.
MODEL_MAX_AGE = timedelta(days=1, hours=6)
MAX_NULL_RATE = 0.0  # every required column of the schema is NOT NULL in the source


def _scalar(database: Database, statement: str, **params: object) -> object:
    with database.engine().connect() as conn:
        return conn.execute(text(statement), params).scalar_one()


@asset_check(asset=catalogue, description="Pins and users are not empty.")
def catalogue_not_empty(database: Database) -> AssetCheckResult:
    pins = int(_scalar(database, "SELECT count(*) FROM pins"))
    users = int(_scalar(database, "SELECT count(*) FROM users"))
    return AssetCheckResult(passed=pins > 0 and users > 0, metadata={"pins": pins, "users": users})


@asset_check(asset=raw_events, description="The event log holds rows.")
def events_row_count(database: Database) -> AssetCheckResult:
    rows = int(_scalar(database, "SELECT count(*) FROM events"))
    return AssetCheckResult(passed=rows > 0, metadata={"rows": rows})


@asset_check(asset=raw_events, description="No event id appears twice.")
def events_unique_ids(database: Database) -> AssetCheckResult:
    duplicates = int(_scalar(database, "SELECT count(*) - count(DISTINCT event_id) FROM events"))
    return AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_event_ids": duplicates})


@asset_check(asset=raw_events, description="Engagement events name a pin; search events carry a query.")
def events_null_rates(database: Database) -> AssetCheckResult:
    pin_nulls = float(
        _scalar(database, "SELECT coalesce(avg((pin_id IS NULL)::int), 0) FROM events WHERE action <> 'search'")
    )
    query_nulls = float(
        _scalar(database, "SELECT coalesce(avg((query IS NULL)::int), 0) FROM events WHERE action = 'search'")
    )
    return AssetCheckResult(
        passed=pin_nulls <= MAX_NULL_RATE and query_nulls <= MAX_NULL_RATE,
        metadata={"pin_id_null_rate": pin_nulls, "search_query_null_rate": query_nulls},
    )


@asset_check(asset=raw_events, description="The newest event is less than two days old (a warning, not a failure).")
def events_freshness(database: Database) -> AssetCheckResult:
    newest = _scalar(database, "SELECT max(ts) FROM events")
    age = datetime.now(UTC) - newest if newest else None
    return AssetCheckResult(
        passed=age is not None and age <= FRESHNESS,
        severity=AssetCheckSeverity.WARN,
        metadata={"newest_event": str(newest), "age_hours": round(age.total_seconds() / 3600, 1) if age else -1},
    )


@asset_check(
    asset=pin_vector_index,
    description="The index the run serves (its own build, else the serving one) has rows for the pins with vectors.",
)
def index_serving(context: AssetCheckExecutionContext, database: Database) -> AssetCheckResult:
    version = database.version_for_run(EMBEDDING_KIND, context.run.run_id)
    rows = 0 if version is None else int(
        _scalar(database, "SELECT count(*) FROM pin_embeddings WHERE version = :v", v=version.version)
    )
    return AssetCheckResult(passed=rows > 0, metadata={"serving_rows": rows})


# When an asset last materialized, unlike events_freshness (the newest event in the data): they
# flag a refresh that did not happen (a stopped schedule or sensor, a failed run), as warnings.
# Checks, not the FreshnessPolicy that supersedes them: policies need `freshness: enabled` in
# every instance's dagster.yaml, and these run on any instance, evaluated by freshness_sensor.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    freshness_checks = [
        *build_last_update_freshness_checks(assets=[raw_events], lower_bound_delta=FRESHNESS),
        *build_last_update_freshness_checks(assets=list(RETRAINED_NIGHTLY), lower_bound_delta=MODEL_MAX_AGE),
    ]
    freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks, name="freshness", default_status=DefaultSensorStatus.RUNNING
    )

all_checks = [
    catalogue_not_empty,
    events_row_count,
    events_unique_ids,
    events_null_rates,
    events_freshness,
    index_serving,
    *freshness_checks,
]
