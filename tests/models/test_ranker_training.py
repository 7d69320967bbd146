"""The ranker's history signals: co-engagement vectors cross-fitted around its training window,
interests from each impression's user's engagements before the impression."""

import numpy as np
import pandas as pd

from models.cross_fitting import user_folds
from models.ranker_training import history_signals

SINCE = pd.Timestamp("2026-02-01", tz="UTC")
PINS = pd.DataFrame({"pin_id": [1, 2, 3, 4, 5, 6], "category": ["art", "art", "food", "food", "art", "food"]})
USERS = np.array([7, 8, 9, 10])


def test_a_rows_vectors_never_see_its_users_window_but_see_the_other_folds_and_its_interests_are_point_in_time():
    assert user_folds(np.array([7, 8])).tolist() == [0, 1]  # the two window savers are in different folds
    saves = [(7, 1), (7, 2), (8, 1), (8, 5), (9, 2), (9, 5), (9, 6), (10, 5), (10, 6)]
    before = pd.DataFrame(saves, columns=["user_id", "pin_id"]).assign(action="save", ts=SINCE - pd.Timedelta(days=3))
    during = pd.DataFrame(
        {"user_id": [7] * 5 + [8] * 2, "pin_id": [3] * 5 + [4] * 2, "action": "save", "ts": SINCE}
    )
    at = [SINCE, SINCE, SINCE + pd.Timedelta(hours=1), SINCE]
    impressions = pd.DataFrame({"user_id": [7, 7, 7, 7], "pin_id": [1, 3, 3, 4], "event_timestamp": at})
    vectors, interest = history_signals(
        pd.concat([before, during], ignore_index=True), impressions, since=SINCE, user_ids=USERS, pins=PINS
    )
    assert vectors.users.shape == vectors.pins.shape == (4, vectors.pins.shape[1])
    assert not vectors.pins[1:3].any()  # pin 3 was engaged only in the window, by user 7 alone
    assert vectors.pins[3].any()  # pin 4 by user 8 in the window: the other fold's fit sees it
    assert vectors.pins[0].any() and vectors.users.any()
    # two art saves before the window, prior 2 over 2 categories; an hour in, five food saves more
    np.testing.assert_allclose(interest, [(2 + 1) / 4, 1 / 4, (5 + 1) / 9, 1 / 4])
