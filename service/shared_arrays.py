"""Arrays that the worker processes of one server hold once (service/server.py).

Every worker loads the same serving state, so its large arrays (the learned pin vectors, the query
tower's token table, the medoids' candidates) are the same bytes in each. Under several workers
each such array is written once to the folder they share, named by a hash of its bytes, and every
worker keeps a read-only memory map of that file instead of its own copy: the page cache holds the
bytes once, whichever worker wrote them. A process serving alone keeps its arrays as they are.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import xxhash

from core.atomic_files import atomic_path
from service.server import SHARED_ARRAYS_ENV

log = logging.getLogger("corkboard.service")


def shared(array: np.ndarray) -> np.ndarray:
    """``array`` itself in a process that serves alone; under several workers, a read-only view of
    the shared file with the same dtype, shape and bytes, written first if no worker has yet."""
    folder = os.environ.get(SHARED_ARRAYS_ENV)
    if folder is None:
        return array
    array = np.ascontiguousarray(array)
    shape = "x".join(map(str, array.shape))
    path = Path(folder) / f"{xxhash.xxh3_128_hexdigest(array.data)}-{array.dtype.name}-{shape}.npy"
    try:
        if not path.exists():
            with atomic_path(path) as written:  # whole or not at all, for a sibling mapping it
                np.save(written, array)
        return np.asarray(np.load(path, mmap_mode="r"))
    except OSError as error:  # a full or unwritable folder costs memory, not the load
        log.warning("keeping a %s array of %.1f MB in this worker alone: %s", shape, array.nbytes / 2**20, error)
        return array
