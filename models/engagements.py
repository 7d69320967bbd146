"""A user's latest engagements as arrays, newest first: what a request reads of their history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

US_PER_DAY = 86_400 * 1_000_000


def times_us(ts: pd.Series) -> np.ndarray:
    """Nanosecond timestamps (timezone-aware or not) as int64 microseconds since the epoch."""
    return ts.astype("int64").to_numpy() // 1000


@dataclass(frozen=True)
class Engagements:
    """Pin ids, actions and times (microseconds since the epoch) of a user's engagements, newest first."""

    pin_ids: np.ndarray  # int64
    actions: np.ndarray  # str
    ts_us: np.ndarray  # int64

    def __post_init__(self) -> None:
        if not len(self.pin_ids) == len(self.actions) == len(self.ts_us):
            raise ValueError(f"{len(self.pin_ids)} pins, {len(self.actions)} actions, {len(self.ts_us)} times")

    @classmethod
    def none(cls) -> Engagements:
        """No engagements: an anonymous user's, or one whose history could not be read."""
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=str), np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.pin_ids)

    @property
    def newest_us(self) -> int:
        """The newest engagement's time; only for a non-empty history."""
        return int(self.ts_us.max())

    def ages_days(self) -> np.ndarray:
        """Days from each engagement to the newest one."""
        return (self.newest_us - self.ts_us) / US_PER_DAY

    def pins_oldest_first(self) -> np.ndarray:
        """The pin ids by time, oldest first (ties in their given order)."""
        return self.pin_ids[np.argsort(self.ts_us, kind="stable")]
