"""The asset graph on the tiny world: every asset materialized, checks pass, days replace exactly."""

import base64
import math
import re

import pytest
from dagster import AssetKey, DagsterRunStatus, MarkdownMetadataValue, RunsFilter, materialize
from sqlalchemy import text

from core.database import stop_embedded_postgres
from sql.migrate import migrated_engine
from corkboard.materialize import WORLD_JOB, dagster_instance, materialize_and_activate, materialize_concurrently
from orchestration.assets.embeddings import co_engagement_embeddings, pin_vector_index
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.ingest import catalogue, raw_events
from orchestration.assets.ranking import SIMILARITIES, ranker
from orchestration.definitions import RESOURCES, defs
from orchestration.resources import WorldSource
from sql.versions import active_version, active_versions, latest_version
from tests.conftest import use_data_dir

ASSETS = [
    "catalogue", "raw_events", "pin_board_graph", "engagement_features", "online_features",
    "co_engagement_embeddings", "pin_vector_index", "pin_text_index", "pin_visual_embeddings",
    "two_tower_retrieval", "pinsage_embeddings", "ranker",
]
EPOCH_TRAINED = ["pin_text_index", "pin_visual_embeddings", "two_tower_retrieval", "pinsage_embeddings", "ranker"]
TRAINED = ["co_engagement_embeddings", *EPOCH_TRAINED]  # co-engagement: one SVD, its topic agreement by k
PLOT = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def day_fingerprint(day: str) -> tuple[int, str]:
    with migrated_engine().connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), md5(string_agg(event_id::text || action || coalesce(pin_id::text, '') "
                "|| ts::text, ',' ORDER BY event_id)) FROM events WHERE day = CAST(:day AS date)"
            ),
            {"day": day},
        ).one()
    return int(row[0]), str(row[1])


def test_every_asset_materialized_with_metadata(materialized_tiny):
    instance = dagster_instance()
    for name in ASSETS:
        event = instance.get_latest_materialization_event(AssetKey(name))
        assert event is not None, f"{name} was never materialized"
    index = instance.get_latest_materialization_event(AssetKey("pin_vector_index")).asset_materialization
    assert index.metadata["recall@100_vs_exact"].value > 0.8
    embedding = instance.get_latest_materialization_event(AssetKey("co_engagement_embeddings")).asset_materialization
    assert embedding.metadata["topic_agreement@10"].value > 3 * embedding.metadata["chance_topic_agreement"].value


def test_the_cli_ran_two_steps_at_a_time_those_pinsage_waits_for_first(materialized_tiny):
    instance = dagster_instance()
    (run,) = instance.get_runs(RunsFilter(job_name=WORLD_JOB, statuses=[DagsterRunStatus.SUCCESS]), limit=1)
    steps = {step.step_key: step for step in instance.get_run_step_stats(run.run_id)}
    assert {"pinsage_embeddings", "two_tower_retrieval", "ranker"} <= set(steps)
    spans = sorted((step.start_time, step.end_time) for step in steps.values())
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), "no two steps overlapped"
    first_two = sorted(steps, key=lambda key: steps[key].start_time)[:2]
    assert set(first_two) == {"pin_board_graph", "pin_visual_embeddings"}


def test_a_failed_concurrent_run_raises_and_serves_nothing_of_it(tmp_path, session_data_dir):
    use_data_dir(tmp_path)
    try:
        resources = {**RESOURCES, "source": WorldSource(world="tiny")}
        assert materialize([catalogue], resources=resources, instance=dagster_instance()).success
        keys = [pin_board_graph.key, ranker.key]  # the graph publishes; the ranker finds no events and fails
        with pytest.raises(RuntimeError, match=r"failed in \['ranker'\]"):
            materialize_concurrently(
                keys, world="tiny", concurrency=2, instance=dagster_instance(), artifacts=resources["artifacts"]
            )
        with migrated_engine().connect() as conn:
            assert latest_version(conn, kind="pin_board_graph") is not None and active_versions(conn) == {}
    finally:
        use_data_dir(session_data_dir)
        stop_embedded_postgres(tmp_path / "postgres")


def test_a_second_concurrent_run_in_one_process_steps_into_its_own_data_dir(materialized_tiny, tmp_path):
    # The steps' processes are forked from a server that keeps the environment it started with.
    def materialize_graph() -> int | None:
        """The graph's version that a concurrent run of it published in the current data dir."""
        materialize_concurrently(
            [pin_board_graph.key], world="tiny", concurrency=2, instance=dagster_instance(),
            artifacts=RESOURCES["artifacts"],
        )
        with migrated_engine().connect() as conn:
            version = latest_version(conn, kind="pin_board_graph")
        return version.version if version else None

    assert materialize_graph() is not None
    use_data_dir(tmp_path)
    try:
        resources = {**RESOURCES, "source": WorldSource(world="tiny")}
        assert materialize([catalogue], resources=resources, instance=dagster_instance()).success
        assert materialize_graph() == 1
    finally:
        use_data_dir(materialized_tiny)
        stop_embedded_postgres(tmp_path / "postgres")


def test_trained_models_show_their_curves_as_plots(materialized_tiny):
    instance = dagster_instance()
    for name in TRAINED:
        metadata = instance.get_latest_materialization_event(AssetKey(name)).asset_materialization.metadata
        plots = [PLOT.search(value.value) for value in metadata.values() if isinstance(value, MarkdownMetadataValue)]
        images = [base64.b64decode(plot.group(1)) for plot in plots if plot]
        assert images and all(image.startswith(b"\x89PNG") for image in images), f"{name} shows no plot"
        lists = [key for key, value in metadata.items() if isinstance(value.value, list)]
        assert not lists, f"{name} shows {lists} as lists of numbers"
        if name in EPOCH_TRAINED:
            assert metadata["epochs"].value >= metadata["best_epoch"].value >= 1
            assert metadata["last_train_loss"].value > 0, name


def test_the_ranker_trained_on_finite_learned_similarities(materialized_tiny):
    metadata = dagster_instance().get_latest_materialization_event(AssetKey("ranker")).asset_materialization.metadata
    means = metadata["similarity_means"].value
    assert list(means) == list(SIMILARITIES)
    assert all(math.isfinite(mean) for mean in means.values()) and any(means.values())
    holdout = metadata["retrained_holdout"].value  # the copy trained on the events before the window
    assert set(holdout) == {"pinsage"}


def test_tiny_logs_enough_unengaged_impressions_to_sample_no_negatives(materialized_tiny):
    metadata = dagster_instance().get_latest_materialization_event(AssetKey("ranker")).asset_materialization.metadata
    assert metadata["sampled_negatives"].value == 0
    assert "none sampled" in metadata["sampled_negatives_reason"].value


def test_asset_checks_pass_except_freshness_of_an_old_world(materialized_tiny):
    instance = dagster_instance()
    for check in defs.asset_checks:
        for key in check.check_keys:
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
            assert record is not None, f"{key} never ran"
            evaluation = record.event.dagster_event.event_specific_data
            if key.name != "events_freshness":  # the synthetic world ended on 2026-11-01
                assert evaluation.passed, f"{key.name} failed: {evaluation.metadata}"


def test_rerunning_a_day_replaces_it_exactly(materialized_tiny):
    day = "2026-10-25"
    before = day_fingerprint(day)
    assert before[0] > 0
    resources = {**RESOURCES, "source": WorldSource(world="tiny")}
    result = materialize([raw_events], partition_key=day, resources=resources, instance=dagster_instance())
    assert result.success
    assert day_fingerprint(day) == before


def test_new_embedding_version_is_built_beside_and_swapped_in(materialized_tiny):
    with migrated_engine().connect() as conn:
        serving = active_version(conn, kind="pin_embedding")
    result = materialize_and_activate(
        [co_engagement_embeddings, pin_vector_index], resources=RESOURCES, instance=dagster_instance()
    )
    assert result.success
    with migrated_engine().connect() as conn:
        swapped = active_version(conn, kind="pin_embedding")
        kept = conn.execute(
            text("SELECT count(*) FROM pin_embeddings WHERE version = :v"), {"v": serving.version}
        ).scalar_one()
    assert swapped.version > serving.version and kept > 0
