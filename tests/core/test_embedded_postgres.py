"""The embedded Postgres starts with corkboard's server settings."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from core.database import SETTINGS_FILE, start_embedded_postgres, stop_embedded_postgres, write_server_settings
from core.settings import Settings


def test_a_new_embedded_server_starts_with_the_shared_buffers_asked_for(tmp_path: Path) -> None:
    pg_dir = tmp_path / "postgres"
    try:
        uri = start_embedded_postgres(pg_dir, shared_buffers="48MB")
        with psycopg.connect(uri) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone() == ("48MB",)
    finally:
        stop_embedded_postgres(pg_dir)


def test_server_settings_are_written_once_and_included_once(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").write_text("# initdb's file\nport = 5432\n")

    assert write_server_settings(tmp_path, {"shared_buffers": "1GB"})
    assert not write_server_settings(tmp_path, {"shared_buffers": "1GB"})
    assert write_server_settings(tmp_path, {"shared_buffers": "2GB"})

    config = (tmp_path / "postgresql.conf").read_text().splitlines()
    assert config[:2] == ["# initdb's file", "port = 5432"]
    assert config.count(f"include_if_exists = '{SETTINGS_FILE}'") == 1
    assert (tmp_path / SETTINGS_FILE).read_text() == "shared_buffers = '2GB'\n"


@pytest.mark.parametrize("value", ["1 GB", "0MB", "1GB' work_mem = '1TB", "lots"])
def test_shared_buffers_must_be_a_plain_size(value: str) -> None:
    with pytest.raises(ValidationError, match="pg_shared_buffers"):
        Settings(pg_shared_buffers=value)
