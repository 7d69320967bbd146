import numpy as np
import pytest

from core.sources import generate_world
from models.baselines import (
    CoEngagementRecommender,
    ItemCooccurrenceRecommender,
    PinnerSageRecommender,
    PopularityRecommender,
    training_matrix,
)
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world


@pytest.fixture(scope="module")
def split() -> EvaluationSplit:
    return split_world(generate_world("tiny"))


def random_recall(split: EvaluationSplit, k: int) -> float:
    """Expected recall@k of a uniformly random ranking of the items outside each test history."""
    candidates = np.array([split.n_items - len(split.history(user, "test")) for user in range(split.n_users)])
    return float(np.minimum(1.0, k / candidates).mean())


@pytest.mark.parametrize(
    "model",
    [PopularityRecommender(), ItemCooccurrenceRecommender(), CoEngagementRecommender(), PinnerSageRecommender()],
    ids=lambda model: model.name,
)
def test_each_baseline_beats_random_on_the_tiny_world(split, model):
    model.fit(split.without_test())
    scores = model.scores(np.arange(5), "test")
    assert scores.shape == (5, split.n_items) and np.isfinite(scores).all()
    recall = evaluate_recommender(model, split, "test")["recall@50"]
    assert recall > 3 * random_recall(split, 50), (model.name, recall)


def test_training_matrix_holds_training_interactions_only(split):
    matrix = training_matrix(split)
    assert matrix.shape == (split.n_users, split.n_items)
    assert matrix.nnz == sum(len(items) for items in split.train)
    users = np.arange(split.n_users)
    assert not np.asarray(matrix[users, split.test]).any() and not np.asarray(matrix[users, split.validation]).any()
