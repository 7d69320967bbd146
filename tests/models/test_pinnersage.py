import numpy as np
import pandas as pd
import pytest

from models.engagements import Engagements, times_us
from models.pinnersage import (
    MEDOID_CANDIDATES,
    SERVED_MEDOIDS,
    PinnerSageConfig,
    medoid_candidates,
    medoid_pins,
    pinnersage_medoids,
    users_medoids,
)


def two_interests(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six engagements near axis 0 (old) and three near axis 1 (recent)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(4)[[0] * 6 + [1] * 3]
    vectors = centres + 0.05 * rng.standard_normal(centres.shape)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.array([30.0] * 6 + [1.0] * 3)


def test_one_medoid_per_interest_each_a_member_of_its_cluster():
    vectors, ages = two_interests()
    medoids = pinnersage_medoids(vectors, ages)
    assert len(medoids.rows) == 2
    assert {int(np.argmax(vectors[row])) for row in medoids.rows} == {0, 1}


def test_recent_interest_outweighs_an_older_larger_one():
    vectors, ages = two_interests()
    medoids = pinnersage_medoids(vectors, ages, PinnerSageConfig(half_life_days=7.0))
    # 3 engagements a day old beat 6 engagements a month old
    assert int(np.argmax(vectors[medoids.rows[0]])) == 1
    assert medoids.importance[0] > medoids.importance[1]


def test_zero_vectors_are_ignored_and_bad_input_is_refused():
    vectors, ages = two_interests()
    vectors[:6] = 0.0
    medoids = pinnersage_medoids(vectors, ages)
    assert len(medoids.rows) == 1 and medoids.rows[0] >= 6
    assert len(pinnersage_medoids(np.zeros((2, 4)), np.zeros(2)).rows) == 0
    with pytest.raises(ValueError, match="ages"):
        pinnersage_medoids(vectors, ages[:3])


def engagements_of(users: dict[int, int], seed: int = 0) -> pd.DataFrame:
    """``users[user]`` engagements of each user on pins 0..39, at distinct random times."""
    rng = np.random.default_rng(seed)
    rows = [
        (user, int(rng.integers(40)), "click", int(rng.integers(10**9))) for user, n in users.items() for _ in range(n)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "pin_id", "action", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"] * 1_000_000, unit="us", utc=True)
    return frame.sample(frac=1.0, random_state=seed, ignore_index=True)  # the log in no particular order


def test_offline_medoids_are_each_users_medoids_of_their_latest_engagements():
    vectors = np.random.default_rng(1).standard_normal((40, 4))
    vectors[7] = 0.0  # a pin without a vector is never a medoid
    engagements = engagements_of({3: 12, 5: 1, 9: 30})
    offline = users_medoids(engagements, lambda pins: vectors[pins], latest=20)
    assert offline.user_ids.tolist() == [3, 5, 9] and offline.engagements.tolist() == [12, 1, 20]
    for user_id in (3, 5, 9):
        latest = engagements[engagements["user_id"] == user_id].sort_values("ts", ascending=False).head(20)
        mine = Engagements(latest["pin_id"].to_numpy(), latest["action"].to_numpy(), times_us(latest["ts"]))
        expected = medoid_pins(mine, vectors[mine.pin_ids])
        assert 1 <= len(expected) <= SERVED_MEDOIDS and 7 not in expected.tolist()
        found = offline.of(user_id, newest_us=mine.newest_us, engagements=len(mine))
        assert found is not None and found.tolist() == expected.tolist()


def test_offline_medoids_are_not_served_once_the_engagements_changed():
    vectors = np.random.default_rng(1).standard_normal((40, 4))
    offline = users_medoids(engagements_of({3: 12}), lambda pins: vectors[pins], latest=20)
    newest = int(offline.newest_us[0])
    assert offline.of(3, newest_us=newest, engagements=12) is not None
    assert offline.of(3, newest_us=newest + 1, engagements=12) is None  # a newer engagement
    assert offline.of(3, newest_us=newest, engagements=13) is None
    assert offline.of(4, newest_us=newest, engagements=12) is None  # a user without stored medoids


def test_each_medoids_nearest_pins_are_found_with_it_without_the_users_engaged_pins():
    vectors = np.random.default_rng(1).standard_normal((400, 4))
    engagements = engagements_of({3: 12, 9: 30})
    offline = users_medoids(engagements, lambda pins: vectors[pins], latest=20)
    engaged = {user: group["pin_id"].to_numpy() for user, group in engagements.groupby("user_id")}
    asked = []

    def nearest(pins: np.ndarray, k: int) -> np.ndarray:  # exact cosine over the 400 pins
        asked.append(k)
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.argsort(-(unit[pins] @ unit.T), axis=1, kind="stable")[:, :k]

    found = medoid_candidates(offline, nearest, lambda user: engaged[user])
    assert asked == [MEDOID_CANDIDATES + 30]  # one call for every medoid, sparing the most engaged user's pins
    for row, user in enumerate(offline.user_ids.tolist()):
        newest, count = int(offline.newest_us[row]), int(offline.engagements[row])
        medoids = offline.of(user, newest_us=newest, engagements=count)
        expected = [
            [pin for pin in near if pin not in engaged[user]][:MEDOID_CANDIDATES] for near in nearest(medoids, 400)
        ]
        candidates = found.candidates_of(user, newest_us=newest, engagements=count)
        assert candidates.tolist() == [pin for block in expected for pin in block]
        assert found.candidates_of(user, newest_us=newest + 1, engagements=count) is None  # engaged since
    assert offline.candidates_of(3, newest_us=int(offline.newest_us[0]), engagements=12) is None  # none found yet
