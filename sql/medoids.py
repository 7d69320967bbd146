"""Each user's PinnerSage medoids under a pin_embedding version, computed offline, read at load."""

from __future__ import annotations

import numpy as np
import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy import Connection, text

from models.pinnersage import MEDOID_CANDIDATES, SERVED_MEDOIDS, OfflineMedoids
from sql.bulk import copy_binary_out, copy_into

INT8_OID = 20  # Postgres's type oid of bigint, an array's element type in COPY's binary form


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


def _id_array(length: int) -> np.dtype:
    """A ``bigint[]`` of ``length`` ids in COPY's binary form: one dimension, no NULLs, element
    type int8, its length and lower bound, then each id after its byte length."""
    return np.dtype(
        [
            ("dimensions", ">i4"),
            ("has_nulls", ">i4"),
            ("element_type", ">u4"),
            ("length", ">i4"),
            ("lower_bound", ">i4"),
            ("ids", [("id_bytes", ">i4"), ("id", ">i8")], (length,)),
        ]
    )


CANDIDATES_PER_USER = SERVED_MEDOIDS * MEDOID_CANDIDATES
# One stored user's row of the read below, in COPY's binary form; numpy packs the fields without padding.
_MEDOID_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("user_id_bytes", ">i4"),
        ("user_id", ">i8"),
        ("newest_us_bytes", ">i4"),
        ("newest_us", ">i8"),
        ("engagements_bytes", ">i4"),
        ("engagements", ">i4"),
        ("pin_ids_bytes", ">i4"),
        ("pin_ids", _id_array(SERVED_MEDOIDS)),
        ("candidates_bytes", ">i4"),
        ("candidates", _id_array(CANDIDATES_PER_USER)),
    ]
)


def user_medoids(conn: Connection, *, version: int) -> OfflineMedoids | None:
    """The medoids stored for ``version`` (users sorted), or None when it has none. Each array is
    padded with -1 (and cut) to its served width in SQL, so every row has one size and the whole
    read is one binary COPY that numpy takes as it comes: on the large world's 100,000 users, a
    row loop over psycopg's lists had taken 2.8 s."""
    query = pgsql.SQL(
        "SELECT user_id, (extract(epoch FROM newest_ts) * 1000000)::bigint, engagements, "
        "(pin_ids || array_fill(-1::bigint, ARRAY[{medoids}]))[1:{medoids}], "
        "(candidate_pin_ids || array_fill(-1::bigint, ARRAY[{candidates}]))[1:{candidates}] "
        "FROM user_medoids WHERE version = %(v)s ORDER BY user_id"
    ).format(medoids=pgsql.Literal(SERVED_MEDOIDS), candidates=pgsql.Literal(CANDIDATES_PER_USER))
    rows = copy_binary_out(conn, query, {"v": version}, _MEDOID_ROW)
    if not len(rows):
        return None
    for name in ("pin_ids", "candidates"):
        arrays = rows[name]
        if not ((arrays["dimensions"] == 1) & (arrays["has_nulls"] == 0) & (arrays["element_type"] == INT8_OID)).all():
            raise ValueError(f"user_medoids' {name} did not come as one-dimensional bigint arrays without NULLs")
    return OfflineMedoids(
        rows["user_id"].astype(np.int64),
        rows["newest_us"].astype(np.int64),
        rows["engagements"].astype(np.int64),
        rows["pin_ids"]["ids"]["id"].astype(np.int64),
        rows["candidates"]["ids"]["id"].astype(np.int64),
    )
