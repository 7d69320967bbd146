"""The refresh policy: which asset Dagster refreshes by itself, and on what.

Features, the graph and the serving index follow their inputs: a new day of raw_events (or a new
catalogue) refreshes them. Trained models retrain once a night on RETRAIN_CRON, after the
daily_events schedule (01:00 UTC) has loaded yesterday. The policy is applied here, to the
definitions the asset modules build, so those modules say what an asset is and this one when it
runs. catalogue and raw_events are loaded by the daily schedule and the drop-folder sensor.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

from orchestration.assets.embeddings import co_engagement_embeddings, pin_vector_index, pinnersage_medoids
from orchestration.assets.experiments import experiment_outcomes, utility_tuning
from orchestration.assets.features import engagement_features, online_features
from orchestration.assets.graph import pin_board_graph
from orchestration.assets.pinsage import pinsage_embeddings
from orchestration.assets.ranking import ranker
from orchestration.assets.text import pin_text_index
from orchestration.assets.two_tower import two_tower_retrieval
from orchestration.assets.visual import pin_visual_embeddings

RETRAIN_CRON = "0 3 * * *"
RETRAIN_TIMEZONE = "UTC"


def on_new_inputs() -> AutomationCondition:
    """True once a dependency has updated (or is requested on this tick) since the asset was last
    requested or updated, while neither a dependency nor the asset itself is running.

    This is ``eager()`` without its "no dependency missing" clause: raw_events is partitioned by
    day from 2026-01-01, and a world rarely covers every day, so one missing day would hold an
    unpartitioned child back for good."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("on new inputs")


def nightly_retrain() -> AutomationCondition:
    """True once RETRAIN_CRON has ticked since the asset was last requested or updated, while
    neither a dependency nor the asset itself is running.

    Not ``on_cron()``: that also waits until every dependency has updated since the tick, and
    the catalogue (the visual model's only input) changes only when a user brings new files."""
    return (
        AutomationCondition.cron_tick_passed(RETRAIN_CRON, RETRAIN_TIMEZONE).since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"nightly retrain ({RETRAIN_CRON} {RETRAIN_TIMEZONE})")


FOLLOW_INPUTS: tuple[AssetsDefinition, ...] = (
    engagement_features,
    online_features,
    pin_board_graph,
    pin_vector_index,
    pinnersage_medoids,  # a new embedding: each user's latest engagements clustered in it
    experiment_outcomes,  # a new day of events: the arms measured, weights proposed on that day's models
    utility_tuning,
)
RETRAINED_NIGHTLY: tuple[AssetsDefinition, ...] = (
    co_engagement_embeddings,
    pin_text_index,
    pin_visual_embeddings,
    two_tower_retrieval,
    pinsage_embeddings,
    ranker,
)
REFRESH_POLICY: dict[AssetKey, AutomationCondition] = {
    **{asset.key: on_new_inputs() for asset in FOLLOW_INPUTS},
    **{asset.key: nightly_retrain() for asset in RETRAINED_NIGHTLY},
}


def with_refresh_policy(assets: Iterable[AssetsDefinition]) -> list[AssetsDefinition]:
    """``assets`` with REFRESH_POLICY's condition on each asset it names (the others unchanged)."""
    return [asset.map_asset_specs(_with_condition) for asset in assets]


def _with_condition(spec: AssetSpec) -> AssetSpec:
    condition = REFRESH_POLICY.get(spec.key)
    return spec if condition is None else spec.replace_attributes(automation_condition=condition)


# Evaluates every condition above; on by default, so `dagster dev` (corkboard ui) and the daemon
# run it without a click in the UI.
automation_sensor = AutomationConditionSensorDefinition(
    "refresh_policy",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests the assets whose refresh policy (orchestration/automation.py) is met.",
)
