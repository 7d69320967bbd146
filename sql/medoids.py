"""Each user's PinnerSage medoids under a pin_embedding version, computed offline, read at load."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from models.pinnersage import MEDOID_CANDIDATES, SERVED_MEDOIDS, OfflineMedoids
from sql.bulk import copy_into


def store_user_medoids(conn: Connection, *, version: int, medoids: OfflineMedoids) -> int:
    """Replace the medoids of ``version`` with ``medoids``, in the caller's transaction; returns the rows."""
    conn.execute(text("DELETE FROM user_medoids WHERE version = :v"), {"v": version})
    frame = pd.DataFrame(
        {
            "version": version,
            "user_id": medoids.user_ids,
            "newest_ts": pd.to_datetime(medoids.newest_us, unit="us", utc=True),
            "engagements": medoids.engagements,
            "pin_ids": [_array_literal(pins) for pins in medoids.pin_ids],
            "candidate_pin_ids": [_array_literal(pins) for pins in medoids.candidate_pin_ids],
        }
    )
    return copy_into(conn, "user_medoids", frame)


def _array_literal(padded: np.ndarray) -> str:
    """A Postgres array literal of the ids in ``padded`` (-1 pads), which stay in their places."""
    return "{" + ",".join(map(str, padded.tolist())) + "}" if (padded >= 0).any() else "{}"


def user_medoids(conn: Connection, *, version: int) -> OfflineMedoids | None:
    """The medoids stored for ``version`` (users sorted), or None when it has none."""
    rows = conn.execute(
        text(
            "SELECT user_id, (extract(epoch FROM newest_ts) * 1000000)::bigint, engagements, pin_ids, "
            "candidate_pin_ids FROM user_medoids WHERE version = :v ORDER BY user_id"
        ),
        {"v": version},
    ).all()
    if not rows:
        return None
    pin_ids = np.full((len(rows), SERVED_MEDOIDS), -1, dtype=np.int64)
    candidates = np.full((len(rows), SERVED_MEDOIDS * MEDOID_CANDIDATES), -1, dtype=np.int64)
    for row, (_, _, _, pins, near) in enumerate(rows):
        pin_ids[row, : len(pins)] = pins[:SERVED_MEDOIDS]
        candidates[row, : len(near)] = near[: candidates.shape[1]]
    columns = list(zip(*(row[:3] for row in rows), strict=True))
    return OfflineMedoids(*(np.array(column, dtype=np.int64) for column in columns), pin_ids, candidates)
