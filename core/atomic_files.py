"""Files that appear whole or not at all, and stay written once the call returns."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A fresh path beside ``path`` for the caller to write; it becomes ``path`` on success.

    On leaving the block the file is flushed to disk, renamed onto ``path`` and the folder is
    flushed, so a crash leaves the old file or the new one, never half of one. When the block
    raises, the partial file is removed and ``path`` is left as it was. The temporary name keeps
    ``path``'s suffix, for writers that add one otherwise (``np.save``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        yield temporary
        fsync_path(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


@contextmanager
def atomic_folder(folder: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``folder`` (which must not exist yet) for the caller to fill;
    it is renamed onto ``folder`` on success, so ``folder`` appears whole or not at all. When the
    block raises, the partial folder is removed. Write each file in it through ``atomic_path``,
    which flushes it to disk."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        yield partial
        partial.chmod(0o755)  # mkdtemp makes it owner-only; a service under another user must read it
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    fsync_path(folder.parent)


def fsync_path(path: Path) -> None:
    """Flush the contents of a file, or the entries of a folder, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
