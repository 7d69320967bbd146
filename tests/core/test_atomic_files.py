"""atomic_path: the new file is on disk before it takes the name, and a failed write changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import atomic_files
from core.atomic_files import atomic_path


def test_file_and_folder_are_flushed_around_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "table.parquet"
    steps: list[tuple[str, str]] = []
    real_fsync, real_replace = atomic_files.fsync_path, os.replace

    def fsync(path: Path) -> None:
        steps.append(("fsync", Path(path).name))
        real_fsync(path)

    def replace(source: str | Path, destination: str | Path) -> None:
        steps.append(("replace", Path(destination).name))
        real_replace(source, destination)

    monkeypatch.setattr(atomic_files, "fsync_path", fsync)
    monkeypatch.setattr(atomic_files.os, "replace", replace)
    with atomic_path(target) as unfinished:
        assert unfinished.parent == target.parent and unfinished.suffix == ".parquet"
        unfinished.write_bytes(b"new")
        written = unfinished.name
    assert steps == [("fsync", written), ("replace", "table.parquet"), ("fsync", "out")]
    assert target.read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as unfinished:
        unfinished.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [child.name for child in tmp_path.iterdir()] == ["model.npz"]


def test_a_failed_flush_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "CURRENT"
    target.write_text("v1")

    def broken_fsync(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic_files, "fsync_path", broken_fsync)
    with pytest.raises(OSError, match="Input/output"), atomic_path(target) as unfinished:
        unfinished.write_text("v2")
    assert target.read_text() == "v1"
    assert [child.name for child in tmp_path.iterdir()] == ["CURRENT"]
