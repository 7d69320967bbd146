"""The service's feature tables of the tiny world, from the serving snapshot and from Feast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import service.feature_tables
from core.settings import get_settings
from features.serving_snapshot import ServingSnapshot
from features.store import feature_defaults, feature_store
from models.ranker import load_ranker
from service.feature_tables import OnlineRows, PinTable, UserTable, pin_table, user_table
from service.state_loading import StoredServingData, open_serving_state, read_stored_serving_data
from sql.migrate import migrated_engine


@pytest.fixture(scope="module")
def stored(materialized_tiny: Path) -> StoredServingData:
    with migrated_engine(get_settings()).connect() as conn:
        return read_stored_serving_data(conn)


@pytest.fixture
def feast_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every id the load reads from the online store through Feast."""
    read: list[int] = []
    online_features = service.feature_tables.online_features

    def recorded(store: Any, **ids: Any) -> pd.DataFrame:
        read.extend(ids.get("pin_ids", ids.get("user_ids")))
        return online_features(store, **ids)

    monkeypatch.setattr(service.feature_tables, "online_features", recorded)
    return read


def tables(stored: StoredServingData, snapshot: ServingSnapshot | None) -> tuple[PinTable, UserTable]:
    """Feature tables of 300 pins and 100 users of the catalogue, read from ``snapshot`` (None: Feast)."""
    settings = get_settings()
    _, encoder = load_ranker(Path(stored.ranker.artifact))
    pin_ids = np.sort(stored.pins["pin_id"].sample(300, random_state=0).to_numpy())
    rows = OnlineRows(feature_store(settings), snapshot)
    defaults = feature_defaults(settings)
    return (
        pin_table(rows, encoder, pin_ids, stored.pins, defaults),
        user_table(rows, encoder, stored.users.sample(100, random_state=0), defaults),
    )


def served_snapshot(stored: StoredServingData) -> ServingSnapshot:
    assert stored.feature_snapshot is not None
    return ServingSnapshot.load(Path(stored.feature_snapshot.artifact))


def assert_same_tables(got: tuple[PinTable, UserTable], expected: tuple[PinTable, UserTable]) -> None:
    (pins, users), (feast_pins, feast_users) = got, expected
    np.testing.assert_array_equal(pins.features, feast_pins.features)
    np.testing.assert_array_equal(pins.default_features, feast_pins.default_features)
    np.testing.assert_array_equal(users.user_ids, feast_users.user_ids)
    np.testing.assert_array_equal(users.features, feast_users.features)
    np.testing.assert_array_equal(users.missing, feast_users.missing)


def test_the_snapshot_holds_what_feast_serves_for_a_sample_of_pins_and_users(stored, feast_reads):
    from_feast = tables(stored, None)
    feast_reads.clear()
    from_snapshot = tables(stored, served_snapshot(stored))
    assert feast_reads == []
    assert_same_tables(from_snapshot, from_feast)
    pins, _ = from_feast
    assert pins.default_features.any() and not pins.default_features.all()  # pins with and without engagement


def test_entities_missing_from_the_snapshot_are_read_from_feast(stored, feast_reads):
    snapshot = served_snapshot(stored)
    from_feast = tables(stored, None)
    pins, users = from_feast
    # Every seventh pin of the snapshot (some of them sampled) and ten sampled users arrived after it.
    lacking = {"pin_id": snapshot.ids["pin_id"][::7], "user_id": users.user_ids[:10]}
    partial = snapshot.without(lacking)
    feast_reads.clear()
    from_partial = tables(stored, partial)
    sampled_pins = np.sort(stored.pins["pin_id"].sample(300, random_state=0).to_numpy())
    expected_reads = [*np.intersect1d(sampled_pins, lacking["pin_id"]), *lacking["user_id"]]
    assert len(expected_reads) > 10 and sorted(feast_reads) == sorted(int(i) for i in expected_reads)
    assert_same_tables(from_partial, from_feast)


def test_a_load_reads_every_feature_from_the_snapshot(stored, feast_reads):
    state = open_serving_state(get_settings())
    assert state.model_versions["feature_snapshot"] == stored.feature_snapshot.version
    assert feast_reads == []
    assert len(state.users.user_ids) == len(stored.users)
