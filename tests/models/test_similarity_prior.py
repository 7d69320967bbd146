"""The PinSAGE prior: no weight or no spread leaves the ranker's order; a weight moves the order
towards the similarity's and keeps the pinner's scale."""

from __future__ import annotations

import numpy as np
import pytest

from models.similarity_prior import similarity_prior, with_similarity_prior

PINNER = np.array([0.30, 0.20, 0.10, 0.05])
SIMILARITY = np.array([0.1, 0.2, 0.3, 0.9])


def test_no_weight_or_no_spread_leaves_the_pinner_utility() -> None:
    np.testing.assert_array_equal(with_similarity_prior(PINNER, SIMILARITY, 0.0), PINNER)
    np.testing.assert_array_equal(with_similarity_prior(PINNER, np.full(4, 0.4), 2.0), PINNER)
    np.testing.assert_array_equal(with_similarity_prior(np.full(4, 0.2), SIMILARITY, 2.0), np.full(4, 0.2))
    np.testing.assert_array_equal(with_similarity_prior(PINNER[:1], SIMILARITY[:1], 2.0), PINNER[:1])
    np.testing.assert_array_equal(similarity_prior(PINNER, np.full(4, 0.4), 2.0), np.zeros(4))


def test_a_weight_orders_as_the_sum_of_the_two_z_scores() -> None:
    def z(values: np.ndarray) -> np.ndarray:
        return (values - values.mean()) / values.std()

    for weight in (0.5, 1.5, 10.0):
        blended = with_similarity_prior(PINNER, SIMILARITY, weight)
        np.testing.assert_allclose(z(blended - PINNER), z(SIMILARITY))
        assert list(np.argsort(-blended)) == list(np.argsort(-(z(PINNER) + weight * z(SIMILARITY))))
        assert blended.mean() == pytest.approx(PINNER.mean())  # the prior adds nothing on average
    assert list(np.argsort(-with_similarity_prior(PINNER, SIMILARITY, 100.0))) == [3, 2, 1, 0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        with_similarity_prior(PINNER, SIMILARITY[:3], 1.0)
    for weight in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weight"):
            with_similarity_prior(PINNER, SIMILARITY, weight)
