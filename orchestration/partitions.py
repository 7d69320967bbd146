"""Events arrive by day; every source's days fall on or after EVENTS_START."""

from dagster import DailyPartitionsDefinition

EVENTS_START = "2026-01-01"
daily_partitions = DailyPartitionsDefinition(start_date=EVENTS_START, timezone="UTC")
