"""Per-key token buckets: each request takes a token, tokens come back at a steady rate up to the
bucket's size, and a request that finds none is refused with how long to wait."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """One bucket per key, full when first used; safe to share between threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def take(self, key: str, *, rate: float, burst: int) -> int:
        """Take a token of ``key``'s bucket (``burst`` tokens, refilled at ``rate`` a second):
        0 when one was there, else the whole seconds until one will be (the request is refused)."""
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - counted) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / rate))
