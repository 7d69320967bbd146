"""The refresh policy fires as documented, evaluated by Dagster's own evaluator on the real
definitions: a new day of raw_events refreshes the features and the experiments and nothing else, a new catalogue
refreshes the graph and the features, and the trained models retrain at the nightly cron tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from dagster import AssetMaterialization, DagsterInstance, evaluate_automation_conditions

from orchestration.automation import REFRESH_POLICY, RETRAINED_NIGHTLY
from orchestration.definitions import defs

NOON = datetime(2026, 11, 2, 12, tzinfo=UTC)  # hours from the 03:00 retrain either way
AFTER_RETRAIN_TICK = datetime(2026, 11, 3, 3, 1, tzinfo=UTC)
RETRAINED = {asset.key.to_user_string() for asset in RETRAINED_NIGHTLY}


class Ticks:
    """Successive evaluations of every asset's condition against one instance, as the sensor runs them."""

    def __init__(self) -> None:
        self.instance = DagsterInstance.ephemeral()
        self.cursor = None

    def at(self, when: datetime) -> set[str]:
        """The assets requested by an evaluation at ``when``."""
        result = evaluate_automation_conditions(defs=defs, instance=self.instance, evaluation_time=when, cursor=self.cursor)
        self.cursor = result.cursor
        return {outcome.key.to_user_string() for outcome in result.results if not outcome.true_subset.is_empty}

    def materialized(self, asset: str, partition: str | None = None) -> None:
        self.instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=partition))


@pytest.fixture
def ticks() -> Iterator[Ticks]:
    ticks = Ticks()
    assert ticks.at(NOON) == set()  # the first evaluation requests nothing: no input changed, no tick passed
    yield ticks
    ticks.instance.dispose()


def test_every_derived_asset_has_a_condition_and_the_sensor_is_on():
    repository = defs.get_repository_def()
    conditions = {
        key.to_user_string(): repository.asset_graph.get(key).automation_condition
        for key in repository.asset_graph.get_all_asset_keys()
    }
    unconditioned = {name for name, condition in conditions.items() if condition is None}
    assert unconditioned == {"catalogue", "raw_events", "offline_evaluation"}  # loaded by schedule, sensor, CLI
    assert {key.to_user_string() for key in REFRESH_POLICY} <= set(conditions)
    sensor = repository.get_sensor_def("refresh_policy")
    assert sensor.default_status.value == "RUNNING"


def test_a_new_day_of_events_refreshes_the_features_and_the_experiments_and_nothing_else(ticks):
    ticks.materialized("raw_events", partition="2026-11-01")
    refreshed = {"engagement_features", "online_features", "experiment_outcomes", "utility_tuning"}
    assert ticks.at(NOON + timedelta(minutes=1)) == refreshed
    for asset in refreshed:
        ticks.materialized(asset)
    assert ticks.at(NOON + timedelta(minutes=2)) == set()  # handled: not requested again


def test_a_new_catalogue_refreshes_the_graph_and_the_features(ticks):
    ticks.materialized("catalogue")
    assert ticks.at(NOON + timedelta(minutes=1)) == {"pin_board_graph", "engagement_features", "online_features"}


def test_models_retrain_at_the_cron_tick_once(ticks):
    ticks.materialized("raw_events", partition="2026-11-01")
    assert not ticks.at(NOON + timedelta(minutes=1)) & RETRAINED  # new data alone retrains nothing
    # The index and the users' medoids follow the co-engagement embedding, in the same tick.
    assert ticks.at(AFTER_RETRAIN_TICK) == RETRAINED | {"pin_vector_index", "pinnersage_medoids"}
    assert ticks.at(AFTER_RETRAIN_TICK + timedelta(minutes=1)) == set()

