import numpy as np
import pytest

from models.pinnersage import PinnerSageConfig, pinnersage_medoids


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
