"""Apply ``sql/migrations/NNNN_*.sql`` in order, once each, recording what was applied."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from sqlalchemy import Engine, text

from core.database import get_engine
from core.settings import Settings, get_settings

_LOCK_ID = 0x636F726B  # advisory lock: two processes starting at once apply each file once

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) of every migration shipped with corkboard, in order."""
    folder = resources.files("sql") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


class MissingPgvectorError(RuntimeError):
    """The configured server cannot create the ``vector`` extension."""


def apply_migrations(engine: Engine) -> list[str]:
    """Apply pending migrations in one transaction; returns the versions applied now."""
    applied_now: list[str] = []
    with engine.begin() as conn:
        available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first()
        if available is None:
            raise MissingPgvectorError(
                f"the database at {engine.url.render_as_string(hide_password=True)} has no pgvector "
                "extension; install pgvector there, or unset CORKBOARD_DATABASE_URL for the embedded server"
            )
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        conn.execute(text(_LEDGER))
        done = set(conn.scalars(text("SELECT version FROM schema_migrations")))
        for version, statements in migration_files():
            if version in done:
                continue
            conn.exec_driver_sql(statements)
            conn.execute(text("INSERT INTO schema_migrations (version) VALUES (:v)"), {"v": version})
            applied_now.append(version)
    return applied_now


def migrated_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine of the configured database, its pending migrations applied on the
    first call per database: what every entry point (assets, service, CLI) uses."""
    return _migrated(get_engine(settings or get_settings()))


@lru_cache(maxsize=4)
def _migrated(engine: Engine) -> Engine:
    apply_migrations(engine)
    return engine
