"""Reads in COPY's binary form: numpy takes the tuples as they come, so the layout the query sends
must be the one expected, and the stored medoids come back padded to their served widths."""

from __future__ import annotations

import numpy as np
import pytest
from psycopg import sql as pgsql
from sqlalchemy import text

from models.pinnersage import MEDOID_CANDIDATES, SERVED_MEDOIDS, OfflineMedoids
from sql.bulk import copy_binary_out
from sql.medoids import store_user_medoids, user_medoids
from sql.migrate import migrated_engine

VERSION = 900_005  # no materialized version; every row below is rolled back
ONE_BIGINT = np.dtype([("fields", ">i2"), ("value_bytes", ">i4"), ("value", ">i8")])


def test_a_binary_read_takes_the_layout_it_was_given_and_refuses_another(session_data_dir) -> None:
    with migrated_engine().connect() as conn:
        read = copy_binary_out(conn, pgsql.SQL("SELECT g::bigint FROM generate_series(1, 3) g"), None, ONE_BIGINT)
        none = copy_binary_out(conn, pgsql.SQL("SELECT 1::bigint WHERE false"), None, ONE_BIGINT)
        with pytest.raises(ValueError, match="whole number of 14-byte rows"):
            copy_binary_out(conn, pgsql.SQL("SELECT 7::integer"), None, ONE_BIGINT)
        with pytest.raises(ValueError, match="fields is not 1"):  # 14 bytes too, in two fields
            copy_binary_out(conn, pgsql.SQL("SELECT 1::smallint, 2::smallint"), None, ONE_BIGINT)
    assert read["value"].tolist() == [1, 2, 3]
    assert len(none) == 0


def test_stored_medoids_come_back_as_stored_in_their_served_widths(session_data_dir) -> None:
    width = SERVED_MEDOIDS * MEDOID_CANDIDATES
    rng = np.random.default_rng(0)
    candidates = rng.integers(0, 2**40, size=(3, width))
    candidates[0, 100:] = -1  # found for fewer medoids
    candidates[1] = -1  # none found
    medoids = OfflineMedoids(
        user_ids=np.array([11, 12, 2**40]),
        newest_us=np.array([1_764_000_000_123_456, 0, -5]),
        engagements=np.array([3, 1, 40]),
        pin_ids=np.array([[5, 2**40, -1], [-1, -1, -1], [7, 8, 9]]),
        candidate_pin_ids=candidates,
    )
    with migrated_engine().connect() as conn:
        assert store_user_medoids(conn, version=VERSION, medoids=medoids) == 3
        # A row of other widths (written by another release): cut and padded to the served ones.
        conn.execute(
            text(
                "INSERT INTO user_medoids VALUES (:v, 13, to_timestamp(1), 2, '{1,2,3,4}', '{6}')"
            ),
            {"v": VERSION},
        )
        read = user_medoids(conn, version=VERSION)
        assert user_medoids(conn, version=VERSION + 1) is None
        conn.rollback()
    assert read is not None
    assert read.user_ids.tolist() == [11, 12, 13, 2**40]
    assert read.newest_us.tolist() == [1_764_000_000_123_456, 0, 1_000_000, -5]
    assert read.engagements.tolist() == [3, 1, 2, 40]
    np.testing.assert_array_equal(read.pin_ids, np.array([[5, 2**40, -1], [-1, -1, -1], [1, 2, 3], [7, 8, 9]]))
    np.testing.assert_array_equal(read.candidate_pin_ids[[0, 1, 3]], candidates)
    assert read.candidate_pin_ids[2].tolist() == [6] + [-1] * (width - 1)
    assert all(array.dtype == np.int64 for array in (read.user_ids, read.pin_ids, read.candidate_pin_ids))
