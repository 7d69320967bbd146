"""The blend: standardized scores, a weight chosen on the validation items alone, and a blend of
PinnerFormer and EASE that scores the same whether or not the test items were visible."""

from __future__ import annotations

import numpy as np
import pytest

from core.sources import load_world
from models.blend import BlendConfig, BlendRecommender, standardized
from models.ease import EASEConfig, EASERecommender
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world
from models.pinnerformer import PinnerFormerConfig, PinnerFormerRecommender

N_USERS, N_ITEMS = 40, 30


def toy_split() -> EvaluationSplit:
    """Each user trained on items 0..4, validation item ``u % 10 + 10``, test item ``u % 10 + 20``."""
    users = np.arange(N_USERS)
    return EvaluationSplit(
        n_users=N_USERS,
        n_items=N_ITEMS,
        train=[np.arange(5) for _ in users],
        train_times=[np.arange(5.0) for _ in users],
        validation=users % 10 + 10,
        test=users % 10 + 20,
        item_text=[""] * N_ITEMS,
        item_category=np.zeros(N_ITEMS, dtype=str),
        board_items=[],
        item_ids=np.arange(N_ITEMS),
        user_ids=users,
        validation_times=np.full(N_USERS, 10.0),
    )


class Oracle:
    """Knows one stage's held-out items from the start (a stand-in for a model good at that stage)."""

    def __init__(self, items: np.ndarray) -> None:
        self.name, self.items, self.fits = "oracle", items, 0

    def fit(self, split: EvaluationSplit) -> None:
        self.fits += 1

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        scores = np.random.default_rng(0).random((len(users), N_ITEMS))
        scores[np.arange(len(users)), self.items[users]] += 10.0
        return scores


def test_standardized_rows_have_zero_mean_and_unit_spread_and_constant_rows_become_zero() -> None:
    rows = standardized(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(rows[0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(rows[0].std(), 1.0)
    assert not rows[1].any()


def test_the_weight_is_chosen_on_the_validation_items_only() -> None:
    split = toy_split()
    good_at_validation, good_at_test = Oracle(split.validation), Oracle(split.test)
    blend = BlendRecommender(good_at_test, good_at_validation)
    blend.fit(split.without_test())
    assert good_at_validation.fits == good_at_test.fits == 1
    # The model that is right on test items gets no weight: the choice never saw them.
    assert blend.weight == 0.0
    assert set(blend.validation_by_weight) == set(BlendConfig().weights)
    assert evaluate_recommender(blend, split, "validation")["ndcg@10"] == 1.0
    assert "weight=0.0" in blend.config


def test_the_first_weight_wins_ties_and_a_bad_weight_list_is_refused() -> None:
    split = toy_split()
    same = Oracle(split.validation)
    blend = BlendRecommender(same, same, BlendConfig(weights=(0.3, 0.7)))
    blend.fit(split.without_test())
    assert blend.weight == 0.3
    with pytest.raises(ValueError, match="weights"):
        BlendConfig(weights=(1.5,))


def test_pinnerformer_and_ease_blended_see_nothing_of_the_test_items() -> None:
    world, _ = load_world("tiny")
    split = split_world(world)
    config = PinnerFormerConfig(objective="dense_next_action", text_buckets=256, action_kinds=True, epochs=2)
    users = np.arange(split.n_users)
    scores, weights = [], []
    for given in (split, split.without_test()):
        blend = BlendRecommender(PinnerFormerRecommender(config), EASERecommender(EASEConfig(l2=100.0)))
        blend.fit(given)
        scores.append(blend.scores(users, "validation"))
        weights.append(blend.weight)
    np.testing.assert_array_equal(scores[0], scores[1])
    assert weights[0] == weights[1]
