"""A user's folder lands through the same assets; bad rows are quarantined and counted, not lost."""

import pandas as pd
from dagster import materialize

from core.database import stop_embedded_postgres
from corkboard.materialize import dagster_instance
from core.sources.synthetic import generate_world
from core.world import TABLES
from orchestration.assets.ingest import catalogue
from orchestration.definitions import RESOURCES
from orchestration.resources import WorldSource
from tests.conftest import use_data_dir


def test_folder_world_quarantines_bad_rows_into_run_metadata(tmp_path_factory, session_data_dir):
    folder = tmp_path_factory.mktemp("user_data")
    world = generate_world("tiny", seed=3)
    for name in TABLES:
        world.table(name).to_parquet(folder / f"{name}.parquet", index=False)
    events = world.events.copy()
    bad = events.head(3).copy()
    bad["event_id"] = [10**12, 10**12 + 1, 10**12 + 2]
    bad["action"] = ["impression", "like", "click"]
    bad.loc[bad.index[2], "user_id"] = 10**9  # unknown user
    pd.concat([events, bad]).to_parquet(folder / "events.parquet", index=False)

    data_dir = tmp_path_factory.mktemp("folder_data")
    use_data_dir(data_dir)
    try:
        resources = {**RESOURCES, "source": WorldSource(world=str(folder))}
        result = materialize([catalogue], resources=resources, instance=dagster_instance())
        metadata = result.asset_materializations_for_node("catalogue")[0].metadata
        assert metadata["quarantined_rows"].value == 2
        assert metadata["pins_rows"].value == len(world.pins)
        quarantine = pd.read_parquet(data_dir / "source" / "quarantine.parquet")
        assert sorted(quarantine["table"]) == ["events", "events"]
        assert quarantine["reason"].str.contains("action").any()
        assert quarantine["reason"].str.contains("user_id").any()
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(data_dir / "postgres")
