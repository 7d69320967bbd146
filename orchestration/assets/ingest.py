"""Catalogue and daily event partitions: the source lands in Postgres."""


from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.partitions import daily_partitions
from orchestration.resources import Database, WorldSource
from sql.catalogue import replace_catalogue
from sql.events import day_summary, replace_days


@asset(group_name="ingest", description="Pins, users, boards and board_pins of the source world.")
def catalogue(context: AssetExecutionContext, source: WorldSource, database: Database) -> MaterializeResult:
    world, quarantine = source.load()
    with database.engine().begin() as conn:
        rows = replace_catalogue(conn, world=world)
    context.log.info(f"catalogue of {source.name}: {rows}")
    return MaterializeResult(
        metadata={
            "world": source.name,
            **{f"{table}_rows": count for table, count in rows.items()},
            "quarantined_rows": quarantine.total,
            "quarantine": MetadataValue.md(quarantine.as_markdown()),
        }
    )


@asset(
    group_name="ingest",
    deps=[catalogue],
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description="The event log, one day per partition; re-running a day replaces it exactly.",
)
def raw_events(context: AssetExecutionContext, source: WorldSource, database: Database) -> MaterializeResult:
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    world, _ = source.load()
    days = world.events["ts"].dt.date
    events = world.events[(days >= first) & (days <= last)]
    with database.engine().begin() as conn:
        rows = replace_days(conn, first=first, last=last, events=events)
        summary = day_summary(conn, first=first, last=last)
    context.log.info(f"events {first}..{last}: {rows} rows")
    per_action = summary.groupby("action")["events"].sum() if not summary.empty else {}
    return MaterializeResult(
        metadata={
            "first_day": str(first),
            "last_day": str(last),
            "rows": rows,
            **{f"{action}_events": int(n) for action, n in dict(per_action).items()},
            "per_day": MetadataValue.md(
                summary.pivot(index="day", columns="action", values="events").fillna(0).astype(int).to_markdown()
                if not summary.empty
                else "no events in this range"
            ),
        }
    )
