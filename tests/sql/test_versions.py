"""Versions: a run's set serves together, rollback returns to the previous serving version, pruning
keeps exactly the window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from sql.migrate import migrated_engine
from corkboard.materialize import dagster_instance, materialize_and_activate
from corkboard.rollback import roll_back
from core.settings import get_settings
from orchestration.assets.embeddings import EMBEDDING_KIND, co_engagement_embeddings, pin_vector_index
from orchestration.definitions import RESOURCES
from orchestration.resources import ArtifactStore, Database
from service.state_loading import open_serving_state
from sql.embeddings import EMBEDDING_DIM, load_pin_partition, load_user_vectors, nearest_pins
from sql.versions import (
    NoPreviousVersionError,
    activate_run,
    activate_version,
    active_version,
    active_versions,
    register_version,
    rollback_version,
)
from tests.conftest import corkboard


@contextmanager
def own_kind() -> Iterator[str]:
    """A kind of its own; its rows and partitions are removed afterwards."""
    name = f"test_{uuid.uuid4().hex[:8]}"
    yield name
    with migrated_engine().begin() as conn:
        versions = list(conn.scalars(text("SELECT version FROM model_versions WHERE kind = :k"), {"k": name}))
        for version in versions:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS pin_embeddings_v{version}")
        conn.execute(text("DELETE FROM user_embeddings WHERE version = ANY(:v)"), {"v": versions})
        conn.execute(text("DELETE FROM model_versions WHERE kind = :k"), {"k": name})


@pytest.fixture
def kind(session_data_dir: Path) -> Iterator[str]:
    """A kind of its own for one test."""
    with own_kind() as name:
        yield name


@pytest.fixture
def other_kind(session_data_dir: Path) -> Iterator[str]:
    """A second kind of its own, for a run that builds two."""
    with own_kind() as name:
        yield name


def build_version(conn, kind: str, *, activate: bool = True, run_id: str | None = None) -> tuple[int, Path]:
    """A version the way the assets build one: an artifact file, a vector partition, user rows."""
    artifact = ArtifactStore(database=Database()).new_path(kind, ".bin")
    artifact.write_bytes(b"weights")
    version = register_version(conn, kind=kind, artifact=str(artifact), metrics={}, run_id=run_id)
    vectors = np.random.default_rng(version).normal(size=(3, EMBEDDING_DIM)).astype(np.float32)
    load_pin_partition(conn, version=version, pin_ids=np.arange(3), vectors=vectors)
    load_user_vectors(conn, version=version, user_ids=np.arange(2), vectors=vectors[:2])
    if activate:
        activate_version(conn, kind=kind, version=version)
    return version, artifact


def stored(conn, version: int) -> dict[str, bool]:
    """Which of a version's row, partition and user vectors are still in the database."""
    return {
        "row": conn.scalar(text("SELECT count(*) FROM model_versions WHERE version = :v"), {"v": version}) == 1,
        "partition": conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"pin_embeddings_v{version}"}),
        "users": conn.scalar(text("SELECT count(*) FROM user_embeddings WHERE version = :v"), {"v": version}) > 0,
    }


def serving(kinds: tuple[str, ...]) -> dict[str, int]:
    """The serving version of each of ``kinds``, read the way a reload reads them."""
    with migrated_engine().connect() as conn:
        return {kind: version.version for kind, version in active_versions(conn).items() if kind in kinds}


def test_a_run_serves_nothing_until_activated_then_its_whole_set_in_one_transaction(kind, other_kind):
    kinds, run = (kind, other_kind), uuid.uuid4().hex
    with migrated_engine().begin() as conn:
        old = {name: build_version(conn, name)[0] for name in kinds}
    with migrated_engine().begin() as conn:
        first = build_version(conn, kind, activate=False, run_id=run)[0]
    assert serving(kinds) == old  # a reload between the run's two publishes sees the old set entirely
    with migrated_engine().begin() as conn:
        build_version(conn, other_kind, activate=False, run_id=run)  # a retried step: only the newest serves
        second = build_version(conn, other_kind, activate=False, run_id=run)[0]
    assert serving(kinds) == old
    with migrated_engine().begin() as conn:
        activated = activate_run(conn, run_id=run)
        assert serving(kinds) == old  # not committed yet: readers still see the old set
    assert {version.kind: version.version for version in activated} == {kind: first, other_kind: second}
    assert len({version.activated_at for version in activated}) == 1  # one activation
    assert serving(kinds) == {kind: first, other_kind: second}

    with migrated_engine().begin() as conn:
        rollback_version(conn, kind=kind)
        assert activate_run(conn, run_id=run) == []  # a second activation (a sensor again) undoes no rollback
    assert serving(kinds) == {kind: old[kind], other_kind: second}
    with migrated_engine().begin() as conn:
        assert activate_run(conn, run_id=uuid.uuid4().hex) == []  # a run that published nothing


def test_a_failed_activation_leaves_the_old_set_serving(kind, other_kind):
    kinds, run = (kind, other_kind), uuid.uuid4().hex
    with migrated_engine().begin() as conn:
        old = {name: build_version(conn, name)[0] for name in kinds}
        for name in kinds:
            build_version(conn, name, activate=False, run_id=run)
    with pytest.raises(RuntimeError, match="connection lost"), migrated_engine().begin() as conn:
        activate_run(conn, run_id=run)
        raise RuntimeError("connection lost")  # after the first kinds flipped, before the commit
    assert serving(kinds) == old


def test_rollback_walks_back_through_served_versions_then_fails_clearly(kind):
    with migrated_engine().begin() as conn:
        first, _ = build_version(conn, kind)
        second, _ = build_version(conn, kind)
        build_version(conn, kind, activate=False)  # a newer build still in progress: never a target
        replaced, serving = rollback_version(conn, kind=kind)
        assert (replaced.version, serving.version) == (second, first)
        assert active_version(conn, kind=kind).version == first
        with pytest.raises(NoPreviousVersionError, match=f"v{first} is the oldest version kept"):
            rollback_version(conn, kind=kind)
        assert active_version(conn, kind=kind).version == first
    with migrated_engine().begin() as conn, pytest.raises(NoPreviousVersionError, match="has no serving version"):
        rollback_version(conn, kind=f"{kind}_absent")


def test_rollback_refuses_a_version_whose_file_is_gone(kind):
    with migrated_engine().begin() as conn:
        first, artifact = build_version(conn, kind)
        second, _ = build_version(conn, kind)
    artifact.unlink()
    with pytest.raises(FileNotFoundError, match=f"v{first}"), migrated_engine().begin() as conn:
        roll_back(conn, kind=kind)
    with migrated_engine().connect() as conn:
        assert active_version(conn, kind=kind).version == second  # the transaction rolled back


def test_pruning_keeps_serving_newer_and_two_previous_and_deletes_the_rest(kind, tmp_path):
    with migrated_engine().begin() as conn:
        built = [build_version(conn, kind) for _ in range(2)]
        failed = build_version(conn, kind, activate=False)  # superseded before it ever served
        built += [build_version(conn, kind) for _ in range(3)]
        in_progress = build_version(conn, kind, activate=False)
        outside = tmp_path / "elsewhere.bin"
        outside.write_bytes(b"not corkboard's")
        conn.execute(
            text("UPDATE model_versions SET artifact = :a WHERE version = :v"),
            {"a": str(outside), "v": built[0][0]},
        )
    store = ArtifactStore(database=Database(), keep_previous=2)
    pruned = store.prune(kind)
    assert pruned == sorted([built[0][0], built[1][0], failed[0]])
    kept = [built[2], built[3], built[4], in_progress]
    with migrated_engine().connect() as conn:
        for version, artifact in kept:
            assert stored(conn, version) == {"row": True, "partition": True, "users": True}, version
            assert artifact.exists()
        for version in pruned:
            assert stored(conn, version) == {"row": False, "partition": False, "users": False}, version
    assert not built[1][1].exists() and not failed[1].exists()
    assert outside.exists(), "pruning deleted a file outside the model dir"
    assert store.prune(kind) == []
    with migrated_engine().begin() as conn:
        assert rollback_version(conn, kind=kind)[1].version == built[3][0]
        assert rollback_version(conn, kind=kind)[1].version == built[2][0]
        with pytest.raises(NoPreviousVersionError):
            rollback_version(conn, kind=kind)


def test_rollback_command_swaps_the_served_embedding_and_fails_with_nothing_to_return_to(materialized_tiny, kind):
    result = materialize_and_activate(
        [co_engagement_embeddings, pin_vector_index], resources=RESOURCES, instance=dagster_instance()
    )
    assert result.success
    with migrated_engine().begin() as conn:
        newest = active_version(conn, kind=EMBEDDING_KIND)
        build_version(conn, kind)  # a kind with a single version
    try:
        done = corkboard("rollback", "--kind", EMBEDDING_KIND)
        with migrated_engine().connect() as conn:
            serving = active_version(conn, kind=EMBEDDING_KIND)
        assert serving.version < newest.version
        assert f"{EMBEDDING_KIND}: v{newest.version} -> v{serving.version}" in done.stdout
        state = open_serving_state(get_settings())
        assert state.model_versions[EMBEDDING_KIND] == serving.version
        query = state.vectors.model.pin_vectors[np.any(state.vectors.model.pin_vectors != 0, axis=1)][0]
        with state.engine.connect() as conn:
            assert nearest_pins(conn, version=serving.version, query=query, k=5, exclude=[], ef_search=40)

        refused = corkboard("rollback", "--kind", kind, check=False)
        assert refused.returncode == 1
        assert "nothing to roll back to" in refused.stderr and "nothing changed" in refused.stderr
    finally:
        with migrated_engine().begin() as conn:
            activate_version(conn, kind=EMBEDDING_KIND, version=newest.version)
