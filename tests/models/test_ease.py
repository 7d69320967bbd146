"""EASE: the closed form solves its constrained ridge regression, beats popularity on the tiny
world and is the same on every fit."""

from __future__ import annotations

import numpy as np
import pytest

from core.sources import generate_world
from corkboard.evaluate import grids
from corkboard.evaluate.grids import settings
from models.baselines import PopularityRecommender
from models.ease import EASEConfig, EASERecommender, ease_weights
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world


@pytest.fixture(scope="module")
def split() -> EvaluationSplit:
    return split_world(generate_world("tiny"))


def test_weights_solve_the_ridge_regression_with_a_zero_diagonal():
    interactions = (np.random.default_rng(0).random((60, 12)) < 0.3).astype(np.float64)
    l2 = 5.0
    weights = ease_weights(interactions, l2).astype(np.float64)
    assert np.all(np.diag(weights) == 0.0)
    # Stationarity of ||X - XB||^2 + l2 ||B||^2 under diag(B) = 0: the gradient is zero off the diagonal.
    gram = interactions.T @ interactions
    gradient = (gram + l2 * np.eye(12)) @ weights - gram
    off_diagonal = ~np.eye(12, dtype=bool)
    np.testing.assert_allclose(gradient[off_diagonal], 0.0, atol=1e-4)


def test_beats_popularity_on_tiny_test(split):
    ease, popularity = EASERecommender(), PopularityRecommender()
    for model in (ease, popularity):
        model.fit(split.without_test())
    scores = ease.scores(np.arange(7), "test")
    assert scores.shape == (7, split.n_items) and np.isfinite(scores).all()
    ndcg = {model.name: evaluate_recommender(model, split, "test")["ndcg@10"] for model in (ease, popularity)}
    assert ndcg["ease"] > 2 * ndcg["popularity"], ndcg


def test_two_fits_give_identical_scores(split):
    users = np.arange(split.n_users)
    first, second = EASERecommender(EASEConfig(l2=200.0)), EASERecommender(EASEConfig(l2=200.0))
    for model in (first, second):
        model.fit(split.without_test())
    np.testing.assert_array_equal(first.scores(users, "validation"), second.scores(users, "validation"))


def test_test_stage_conditions_on_the_validation_item(split):
    model = EASERecommender()
    model.fit(split.without_test())
    user = 0
    with_validation = model.scores(np.array([user]), "test")[0]
    expected = model.scores(np.array([user]), "validation")[0] + model.weights[split.validation[user]]
    np.testing.assert_allclose(with_validation, expected, rtol=1e-5, atol=1e-6)


def test_grid_declares_at_least_eight_lambdas():
    lambdas = [EASEConfig(**setting).l2 for setting in settings(grids.EASE)]
    assert len(set(lambdas)) >= 8 and min(lambdas) > 0


def test_refuses_a_non_positive_lambda():
    with pytest.raises(ValueError):
        EASEConfig(l2=0.0)
