"""Cross-fitting's folds: a fixed assignment of users, and each fold's events without its own window."""

import numpy as np
import pandas as pd
import pytest

from models.cross_fitting import fold_events, user_folds

SINCE = pd.Timestamp("2026-02-01", tz="UTC")


def test_users_fall_into_fixed_folds_of_about_equal_size():
    ids = np.arange(10_000)
    folds = user_folds(ids, 2)
    np.testing.assert_array_equal(folds, user_folds(ids[::-1], 2)[::-1])  # by id, not by position
    assert set(folds.tolist()) == {0, 1} and abs(folds.mean() - 0.5) < 0.02
    assert set(user_folds(ids, 3).tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="positive"):
        user_folds(ids, 0)


def test_each_fold_drops_only_its_own_users_window():
    users = np.arange(1, 9)
    days = [-2, 0, 3]  # before, at and after the window's start
    events = pd.DataFrame(
        [(user, SINCE + pd.Timedelta(days=day)) for user in users for day in days], columns=["user_id", "ts"]
    )
    rows = pd.DataFrame({"user_id": users})
    parts = list(fold_events(events, rows, SINCE))
    assert len(parts) == 2
    for fold, (kept, in_fold) in enumerate(parts):
        mine = user_folds(kept["user_id"].to_numpy()) == fold
        assert (kept.loc[mine, "ts"] < SINCE).all()  # the fold's own users: only before the window
        assert len(kept) == len(events) - 2 * in_fold.sum()  # each of its users lost two events, nobody else any
        np.testing.assert_array_equal(in_fold, user_folds(users) == fold)
