import numpy as np
import pandas as pd

from models.interests import LATEST_ENGAGEMENTS, category_codes, impression_interests, interest_vectors


def test_interest_vector_is_smoothed_share_of_engagement():
    vectors = interest_vectors(np.array([0, 0, 0, 1]), np.array([1, 1, 0, -1]), n_users=3, n_categories=2)
    # user 0: 3 engagements (2 in category 1), prior 2 split evenly -> (1 + 1) / 5 and (2 + 1) / 5
    np.testing.assert_allclose(vectors[0], [2 / 5, 3 / 5])
    np.testing.assert_allclose(vectors[1], [0.5, 0.5])  # its only engagement has no known category
    np.testing.assert_allclose(vectors[2], [0.5, 0.5])
    np.testing.assert_allclose(vectors.sum(axis=1), 1.0, rtol=1e-6)


def test_category_codes_mark_unknown_categories():
    vocabulary = np.array(["art", "food", "travel"])
    assert category_codes(np.array(["food", "cars", "travel"]), vocabulary).tolist() == [1, -1, 2]


def engagements(user_pins: list[tuple[int, int]]) -> pd.DataFrame:
    """One engagement per (user, pin), a minute apart in list order."""
    users, pins = zip(*user_pins)
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(user_pins)), unit="min")
    return pd.DataFrame({"user_id": users, "pin_id": pins, "ts": ts})


CATALOGUE = pd.DataFrame({"pin_id": [10, 11, 20], "category": ["art", "art", "food"]})


LATER = pd.Timestamp("2026-02-01", tz="UTC")


def test_impression_interest_is_the_users_interest_in_the_pins_category():
    history = engagements([(1, 10), (1, 11), (1, 10)])
    impressions = pd.DataFrame({"user_id": [1, 1, 2], "pin_id": [11, 20, 20], "event_timestamp": LATER})
    interest = impression_interests(history, impressions, CATALOGUE)
    # user 1: 3 art engagements, prior 2 split over art and food; user 2 has none
    np.testing.assert_allclose(interest, [(3 + 1) / 5, 1 / 5, 0.5])


def test_an_impression_sees_only_the_engagements_before_it():
    history = engagements([(1, 10), (1, 20), (1, 20)])  # at minutes 0, 1 and 2
    moments = history["ts"].iloc[0] + pd.to_timedelta([0, 1, 2, 3], unit="min")
    impressions = pd.DataFrame({"user_id": 1, "pin_id": 20, "event_timestamp": moments})
    interest = impression_interests(history, impressions, CATALOGUE)
    # food engagements before each: none of 0, none of 1, 1 of 2, 2 of 3
    np.testing.assert_allclose(interest, [0.5, 1 / 3, 2 / 4, 3 / 5])


def test_only_the_latest_engagements_make_the_interest():
    history = engagements([(1, 20)] * 10 + [(1, 10)] * LATEST_ENGAGEMENTS)
    impressions = pd.DataFrame({"user_id": [1], "pin_id": [20], "event_timestamp": [LATER]})
    interest = impression_interests(history, impressions, CATALOGUE)
    np.testing.assert_allclose(interest, [1 / (LATEST_ENGAGEMENTS + 2)])
