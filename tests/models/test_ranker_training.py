"""The ranker's history signals: co-engagement vectors from the engagements before its training
window only, interests from each impression's user's engagements before the impression."""

import numpy as np
import pandas as pd

from models.ranker_training import history_signals

SINCE = pd.Timestamp("2026-02-01", tz="UTC")
PINS = pd.DataFrame({"pin_id": [1, 2, 3, 4, 5, 6], "category": ["art", "art", "food", "food", "art", "food"]})
USERS = np.array([7, 8, 9, 10])


def test_the_windows_engagements_leave_vectors_untouched_and_reach_only_later_interests():
    saves = [(7, 1), (7, 2), (8, 1), (8, 5), (9, 2), (9, 5), (9, 6), (10, 5), (10, 6)]
    before = pd.DataFrame(saves, columns=["user_id", "pin_id"]).assign(action="save", ts=SINCE - pd.Timedelta(days=3))
    during = pd.DataFrame({"user_id": [7] * 5, "pin_id": [3] * 5, "action": "save", "ts": SINCE})
    at = [SINCE, SINCE, SINCE + pd.Timedelta(hours=1)]
    impressions = pd.DataFrame({"user_id": [7, 7, 7], "pin_id": [1, 3, 3], "event_timestamp": at})
    vectors, interest = history_signals(
        pd.concat([before, during], ignore_index=True), impressions, since=SINCE, user_ids=USERS, pins=PINS
    )
    assert not vectors.pin_vectors_for(np.array([3, 4])).any()  # engaged only from the window on
    assert vectors.pin_vectors_for(np.array([1])).any()
    # two art saves before the window, prior 2 over 2 categories; an hour in, five food saves more
    np.testing.assert_allclose(interest, [(2 + 1) / 4, 1 / 4, (5 + 1) / 9])
