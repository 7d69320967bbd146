"""Events arrive by day; every source's days fall on or after EVENTS_START."""

from dagster import DailyPartitionsDefinition

from core.world import FIRST_EVENT_DAY

EVENTS_START = FIRST_EVENT_DAY.isoformat()
daily_partitions = DailyPartitionsDefinition(start_date=EVENTS_START, timezone="UTC")
