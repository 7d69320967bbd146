import re

from sqlalchemy import text

from models.embedding_width import EMBEDDING_DIM
from sql.migrate import apply_migrations, migrated_engine, migration_files


def test_migrations_apply_once_and_record_versions(session_data_dir):
    engine = migrated_engine()  # the factory applies pending migrations
    assert apply_migrations(engine) == []
    with engine.connect() as conn:
        recorded = list(conn.scalars(text("SELECT version FROM schema_migrations ORDER BY version")))
        extension = conn.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    assert recorded == [version for version, _ in migration_files()]
    assert extension is not None


def test_events_reject_unknown_actions(session_data_dir):
    engine = migrated_engine()
    with engine.connect() as conn:
        try:
            conn.execute(
                text("INSERT INTO events (event_id, user_id, action, surface, ts) VALUES (-1, 1, 'like', 'homefeed', now())")
            )
        except Exception as error:  # noqa: BLE001 - any database error is the point
            assert "action" in str(error)
        else:
            raise AssertionError("an unknown action was accepted")
        finally:
            conn.rollback()


def test_versions_swap_and_store_nan_metrics_as_null(session_data_dir):
    from sql.versions import activate_version, active_version, register_version

    with migrated_engine().begin() as conn:
        first = register_version(conn, kind="test_model", artifact="a", metrics={"auc": {"click": float("nan")}})
        second = register_version(conn, kind="test_model", artifact="b", metrics={"auc": 0.7})
        activate_version(conn, kind="test_model", version=first)
        assert active_version(conn, kind="test_model").metrics == {"auc": {"click": None}}
        activate_version(conn, kind="test_model", version=second)
        assert active_version(conn, kind="test_model").artifact == "b"
        conn.rollback()


def test_vector_columns_have_the_width_of_served_vectors():
    statements = dict(migration_files())["0002_embeddings_and_versions"]
    widths = [int(width) for width in re.findall(r"\bvector\((\d+)\)", statements)]
    assert len(widths) == 2  # pin_embeddings and user_embeddings
    assert set(widths) == {EMBEDDING_DIM}
