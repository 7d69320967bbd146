"""Handing freed C heap back to the system."""

from __future__ import annotations

import ctypes


def release_freed_memory() -> None:
    """Return the C heap freed so far to the system (glibc's ``malloc_trim``; a no-op where the
    C library lacks it). glibc otherwise keeps freed heap resident: tensors of many sizes in a
    training epoch, or the tables that loading a serving state reads and drops."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
