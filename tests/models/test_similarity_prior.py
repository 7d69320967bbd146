"""The similarity priors: no weight or no spread leaves the ranker's order; a weight moves the order
towards the similarity's and keeps the pinner's scale; several kinds add up."""

from __future__ import annotations

import numpy as np
import pytest

from models.similarity_prior import similarity_prior, with_similarity_priors

PINNER = np.array([0.30, 0.20, 0.10, 0.05])
SIMILARITY = np.array([0.1, 0.2, 0.3, 0.9])
OTHER = np.array([0.5, -0.4, 0.3, -0.2])


def with_similarity_prior(pinner: np.ndarray, similarity: np.ndarray, weight: float) -> np.ndarray:
    return with_similarity_priors(pinner, {"pinsage": similarity}, {"pinsage": weight})


def z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def test_no_weight_or_no_spread_leaves_the_pinner_utility() -> None:
    np.testing.assert_array_equal(with_similarity_prior(PINNER, SIMILARITY, 0.0), PINNER)
    np.testing.assert_array_equal(with_similarity_prior(PINNER, np.full(4, 0.4), 2.0), PINNER)
    np.testing.assert_array_equal(with_similarity_prior(np.full(4, 0.2), SIMILARITY, 2.0), np.full(4, 0.2))
    np.testing.assert_array_equal(with_similarity_prior(PINNER[:1], SIMILARITY[:1], 2.0), PINNER[:1])
    np.testing.assert_array_equal(similarity_prior(PINNER, np.full(4, 0.4), 2.0), np.zeros(4))


def test_a_weight_orders_as_the_sum_of_the_two_z_scores() -> None:
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


def test_several_kinds_add_up_and_a_kind_not_served_adds_nothing() -> None:
    weights = {"pinsage": 1.5, "two_tower": 0.8}
    both = with_similarity_priors(PINNER, {"pinsage": SIMILARITY, "two_tower": OTHER}, weights)
    np.testing.assert_allclose(
        both - PINNER, similarity_prior(PINNER, SIMILARITY, 1.5) + similarity_prior(PINNER, OTHER, 0.8)
    )
    assert list(np.argsort(-both)) == list(np.argsort(-(z(PINNER) + 1.5 * z(SIMILARITY) + 0.8 * z(OTHER))))
    only_pinsage = with_similarity_priors(PINNER, {"pinsage": SIMILARITY}, weights)
    np.testing.assert_array_equal(only_pinsage, with_similarity_prior(PINNER, SIMILARITY, 1.5))
