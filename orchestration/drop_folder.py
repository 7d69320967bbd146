"""The drop folder: a user copies the files of their world (docs/data.md) into CORKBOARD_DROP_DIR
and a sensor loads what changed: the catalogue when a catalogue file changed, and the days of
raw_events that a new events file holds. Its cursor keeps each file's size and modification time
as last loaded, so a file is picked up once, and again only when it changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from core.settings import get_settings
from core.sources.columns import parse_column
from core.sources.errors import SourceError
from core.sources.files import table_files
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.partitions import daily_partitions
from orchestration.resources import WorldOutsideRootError, allowed_world
from sql.catalogue import CATALOGUE_TABLES

# A file modified this recently may still be being copied: it waits for a later tick.
SETTLE = timedelta(seconds=30)
EVENTS = "events"


@dataclass(frozen=True)
class DropCursor:
    """What the sensor has loaded: each file's signature, and event days that had no partition yet."""

    files: dict[str, str] = field(default_factory=dict)
    waiting_days: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> DropCursor:
        """The cursor the sensor stored (empty before its first run request)."""
        if not text:
            return cls()
        stored = json.loads(text)
        return cls(files=stored["files"], waiting_days=tuple(stored["waiting_days"]))

    def serialized(self) -> str:
        return json.dumps({"files": self.files, "waiting_days": list(self.waiting_days)}, sort_keys=True)


@dataclass(frozen=True)
class DropRequests:
    """The runs a look at the drop folder asks for, the cursor after them, and what went wrong."""

    run_requests: list[RunRequest]
    cursor: DropCursor
    problems: list[str]


def signature(path: Path) -> str:
    """Size and modification time: a file copied or rewritten in place gets a new one."""
    status = path.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


def event_days(path: Path, now: datetime) -> set[date]:
    """The days (UTC) of the events in ``path`` that fall in the partitions' range up to ``now``;
    raises SourceError for a file that cannot be read or whose times are numbers."""
    try:
        if path.suffix == ".parquet":
            raw = pd.read_parquet(path, columns=["ts"])["ts"]
        else:
            raw = pd.read_csv(path, usecols=["ts"], dtype=str, keep_default_na=False, na_values=[""])["ts"]
    except (OSError, ValueError) as error:  # pyarrow and pandas raise these for unreadable files
        raise SourceError(f"{path}: cannot be read: {error}") from error
    times, _ = parse_column(EVENTS, "ts", raw, path, pd.Timestamp(now))
    first = date.fromisoformat(daily_partitions.get_first_partition_key())
    return {day for day in times.dropna().dt.date.unique() if first <= day <= now.date()}


def day_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Sorted ISO ``days`` as runs of consecutive days, (first, last) each."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(days):
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][1]) == timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def still_changing(folder: Path, now: datetime) -> list[str]:
    """The table files of ``folder`` modified within SETTLE of ``now``: perhaps still being copied."""
    return [path.name for path in table_files(folder) if _modified(path) > now - SETTLE]


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def drop_requests(folder: Path, world: str, cursor: DropCursor, now: datetime) -> DropRequests:
    """The runs that load what changed in ``folder`` (resolved as ``world``) since ``cursor``: one
    of the catalogue when a catalogue file was added, changed or removed; one of raw_events per
    run of consecutive days in a new or changed events file. Days after the last complete one
    (today) wait in the cursor until their partition exists."""
    present = {path.name: signature(path) for path in table_files(folder)}
    removed = set(cursor.files) - set(present)
    changed = {name for name, sig in present.items() if cursor.files.get(name) != sig} | removed
    source = {"resources": {"source": {"config": {"world": world}}}}
    requests, problems = [], []
    if any(Path(name).stem in CATALOGUE_TABLES for name in changed):
        loaded = ",".join(f"{name}={sig}" for name, sig in sorted(present.items()) if Path(name).stem != EVENTS)
        requests.append(RunRequest(run_key=f"catalogue {loaded}", asset_selection=[catalogue.key], run_config=source))
    days = set(cursor.waiting_days)
    for name in sorted(changed & present.keys()):
        if Path(name).stem == EVENTS:
            try:
                days |= {day.isoformat() for day in event_days(folder / name, now)}
            except SourceError as error:  # reported once; read again when the file changes
                problems.append(str(error))
    last = (now.date() - timedelta(days=1)).isoformat()  # a day's partition exists once the day has ended
    ready = [day for day in days if day <= last]
    events = next((sig for name, sig in present.items() if Path(name).stem == EVENTS), "")
    for first, final in day_ranges(ready):
        requests.append(
            RunRequest(
                run_key=f"raw_events {first}..{final} {events}",
                asset_selection=[raw_events.key],
                tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: final},
                run_config=source,
            )
        )
    return DropRequests(requests, DropCursor(files=present, waiting_days=tuple(sorted(days - set(ready)))), problems)


@sensor(
    name="drop_folder",
    target=[catalogue, raw_events],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Loads the files a user drops into CORKBOARD_DROP_DIR (docs/data.md): the catalogue, "
    "and the days of raw_events in a new events file.",
)
def drop_folder_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Run requests for what changed in the drop folder since the cursor."""
    settings = get_settings()
    folder = settings.drop_folder
    if not folder.is_dir():
        return SkipReason(f"no drop folder at {folder} (CORKBOARD_DROP_DIR)")
    try:
        world = allowed_world(str(folder), settings.source_root or settings.data_dir)
    except WorldOutsideRootError as error:
        return SkipReason(str(error))
    now = datetime.now(UTC)
    changing = still_changing(Path(world), now)
    if changing:  # the files of one drop are loaded together, once all of them are complete
        return SkipReason(f"waiting for {', '.join(changing)} to stay unchanged for {SETTLE.seconds} s")
    found = drop_requests(Path(world), world, DropCursor.parse(context.cursor), now)
    for problem in found.problems:
        context.log.error(problem)
    nothing = None if found.run_requests else f"nothing new in {folder}"
    return SensorResult(run_requests=found.run_requests, cursor=found.cursor.serialized(), skip_reason=nothing)
