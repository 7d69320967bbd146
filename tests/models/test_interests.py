import numpy as np

from models.interests import category_codes, interest_vectors


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
