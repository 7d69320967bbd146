"""Serving sets on the tiny world: a reload in the middle of a run serves the old set entirely, a
reload reads its set in one snapshot, and rollback returns the graph with the models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import service.state_loading
from core.settings import get_settings
from corkboard.materialize import dagster_instance, materialize_and_activate
from corkboard.rollback import roll_back
from models.pin_board_graph import GRAPH_KIND
from orchestration.assets.embeddings import EMBEDDING_KIND, co_engagement_embeddings
from orchestration.assets.graph import pin_board_graph
from orchestration.definitions import RESOURCES
from orchestration.resources import Database
from service.state_loading import StoredServingData, load_serving_state, open_serving_state
from sql.migrate import migrated_engine
from sql.versions import active_version


@dataclass(frozen=True)
class ObservedRun:
    """What a reload served before a run, after each of its publishes, and after it."""

    run_id: str
    before: dict[str, int]
    during: list[dict[str, int]]
    after: dict[str, int]


def served_versions() -> dict[str, int]:
    """The versions a reload serves now."""
    return open_serving_state(get_settings()).model_versions


@pytest.fixture(scope="module")
def observed_run(materialized_tiny: Path) -> ObservedRun:
    """One run that rebuilds the graph and the pin embedding, with a reload after each publish."""
    before, during = served_versions(), []
    stage = Database.stage

    def stage_then_reload(self: Database, *args: Any) -> tuple[int, int, int]:
        staged = stage(self, *args)
        during.append(served_versions())
        return staged

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "stage", stage_then_reload)
        result = materialize_and_activate(
            [pin_board_graph, co_engagement_embeddings], resources=RESOURCES, instance=dagster_instance()
        )
    return ObservedRun(result.run_id, before, during, served_versions())


def test_a_reload_between_the_publishes_of_a_run_serves_the_old_set_entirely(observed_run):
    assert observed_run.during == [observed_run.before, observed_run.before]  # one reload per publish
    changed = {kind for kind, version in observed_run.after.items() if version != observed_run.before[kind]}
    assert changed == {GRAPH_KIND, EMBEDDING_KIND}
    assert all(observed_run.after[kind] > observed_run.before[kind] for kind in changed)


def test_rollback_returns_the_graph_with_the_models_and_a_reload_serves_them(observed_run):
    with migrated_engine().begin() as conn:  # the run's kinds: others may have earlier versions of their own
        done = {rollback.kind: rollback for kind in (GRAPH_KIND, EMBEDDING_KIND) for rollback in roll_back(conn, kind=kind)}
    for kind in (GRAPH_KIND, EMBEDDING_KIND):
        assert done[kind].replaced.version == observed_run.after[kind]
        assert done[kind].serving.version == observed_run.before[kind]
    state = open_serving_state(get_settings())
    assert state.graph.version == observed_run.before[GRAPH_KIND]
    assert state.model_versions == observed_run.before
    # A late second activation of the run (the sensor after the CLI) does not undo the rollback.
    assert RESOURCES["artifacts"].activate_run(observed_run.run_id).versions == []
    assert served_versions() == observed_run.before


def test_a_reload_reads_its_set_in_one_snapshot(materialized_tiny, monkeypatch):
    """Pruning the serving two-tower's user vectors while a reload reads the set is not seen by it."""
    read_user_vectors = service.state_loading.all_user_vectors
    with migrated_engine().connect() as conn:
        two_tower = active_version(conn, kind="two_tower")
        users = conn.scalar(text("SELECT count(*) FROM user_embeddings WHERE version = :v"), {"v": two_tower.version})
    moved: list[int] = []

    def pruned_meanwhile(conn, *, version: int):
        with migrated_engine().begin() as other:  # another transaction commits after the versions were read
            other.execute(text("UPDATE user_embeddings SET version = -version WHERE version = :v"), {"v": version})
        moved.append(version)
        return read_user_vectors(conn, version=version)

    monkeypatch.setattr(service.state_loading, "all_user_vectors", pruned_meanwhile)
    monkeypatch.setattr(service.state_loading, "serving_state_from", lambda stored, **_: stored)
    settings = get_settings()
    try:
        stored: StoredServingData = load_serving_state(migrated_engine(settings), None, settings, None)
    finally:
        with migrated_engine().begin() as conn:
            for version in moved:
                conn.execute(text("UPDATE user_embeddings SET version = :v WHERE version = -:v"), {"v": version})
    assert moved == [two_tower.version] and users > 0
    assert len(stored.two_tower_users.user_ids) == users
