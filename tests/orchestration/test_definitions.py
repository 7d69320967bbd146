from dagster import AssetKey, AssetsDefinition

from orchestration.assets.ingest import catalogue, raw_events
from orchestration.definitions import defs


def test_definitions_load_with_assets_checks_schedule_and_resources():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {
        "catalogue", "raw_events", "pin_board_graph", "engagement_features", "online_features",
        "co_engagement_embeddings", "pin_vector_index", "ranker",
    } <= keys
    schedule = repository.get_schedule_def("daily_events_schedule")
    assert schedule.cron_schedule == "0 1 * * *"
    assert len(list(repository.asset_checks_defs_by_key)) >= 6
    assert set(defs.resources) == {"database", "source", "feature_store", "artifacts", "ray"}


def test_no_step_outranks_a_step_it_waits_for():
    def priority(asset) -> int:
        return int(asset.op.tags.get("dagster/priority", 0))

    assets = {asset.key: asset for asset in defs.assets if isinstance(asset, AssetsDefinition)}
    for ingested in (catalogue, raw_events):  # each materialized in a run of its own, before the rest
        del assets[ingested.key]
    inversions = [
        (parent.to_user_string(), key.to_user_string())
        for key, asset in assets.items()
        for parent in asset.dependency_keys
        if parent in assets and priority(assets[parent]) < priority(asset)
    ]
    assert not inversions
    assert priority(assets[AssetKey("ranker")]) > priority(assets[AssetKey("two_tower_retrieval")])
