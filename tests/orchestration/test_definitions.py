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
