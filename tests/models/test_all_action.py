"""The all-action protocol on a hand-made log whose split and recall are worked out by hand."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models.all_action import (
    all_action_recall,
    all_action_split,
    category_one_hot,
    log_impressions,
    recall_at_k,
    sample_users,
    top_k_items,
)
from models.baselines import PinnerSageRecommender
from models.pinnerformer import PinnerFormerConfig, PinnerFormerRecommender

# Pins 10..15 are items 0..5. Validation window [90, 100), test window [100, 110).
# user 1: pin 10 at 50, 11 at 95 (validation), 12 at 101 and 13 at 105 (test), 14 at 120 (after both)
# user 2: pin 12 at 92 (validation, but no history before 90), 10 at 103 (test)
# user 3: pin 15 at 10 only: a history, never a positive
INTERACTIONS = (
    np.array([1, 1, 1, 1, 1, 2, 2, 3]),
    np.array([10, 11, 12, 13, 14, 12, 10, 15]),
    np.array([50.0, 95.0, 101.0, 105.0, 120.0, 92.0, 103.0, 10.0]),
)


@pytest.fixture
def split():
    items = np.arange(10, 16)
    return all_action_split(items, np.array(list("aabbcc")), INTERACTIONS, test_cutoff=100.0, window_s=10.0)


def _lists(arrays):
    return [a.tolist() for a in arrays]


def test_split_by_time_by_hand(split):
    assert split.cutoffs == {"validation": 90.0, "test": 100.0}
    assert split.user_ids.tolist() == [1, 2, 3] and split.n_items == 6
    assert _lists(split.train) == [[0], [], [5]]  # before the validation cut-off: all a model learns from
    assert _lists(split.histories["test"]) == [[0, 1], [2], [5]]  # the test input includes the validation window
    assert split.history_times(0, "test").tolist() == [50.0, 95.0]
    assert _lists(split.positives["validation"]) == [[1], [2], []]
    assert _lists(split.positives["test"]) == [[2, 3], [0], []]  # pin 14 at 120 is past the test window
    assert split.evaluated_users("validation").tolist() == [0]  # user 2 has no history before 90
    assert split.evaluated_users("test").tolist() == [0, 1]


def test_recall_at_100_by_hand(split):
    scores = {
        0: [0.9, 0.8, 0.5, 0.5, 0.7, 0.1],  # history 0, 1 out: top 2 = 4, then 2 (ties go to the lower index)
        1: [0.2, 0.1, 0.9, 0.3, 0.0, 0.0],  # history 2 out: top 2 = 3, 0
    }
    assert top_k_items(np.array([scores[0]]), [np.array([0, 1])], k=2).tolist() == [[4, 2]]

    def scorer(users, stage):
        assert stage == "test"
        return np.array([scores[int(user)] for user in users])

    # user 1: {4, 2} & {2, 3} = 1 of min(2, 2); user 2: {3, 0} & {0} = 1 of min(2, 1); mean (0.5 + 1) / 2
    assert all_action_recall(scorer, split, "test", k=2) == pytest.approx(0.75)
    assert all_action_recall(scorer, split, "test", k=2, users=np.array([0])) == pytest.approx(0.5)


def test_ties_count_against_the_model(split):
    def constant(users, stage):
        return np.zeros((len(users), split.n_items))

    # user 2 (history item 2, positive item 0): every remaining item ties, so the positive ranks last
    assert all_action_recall(constant, split, "test", k=2, users=np.array([1])) == 0.0
    tied = np.zeros((1, 6))
    assert top_k_items(tied, [np.array([2])], k=2, positives=[np.array([0])]).tolist() == [[1, 3]]
    assert top_k_items(tied, [np.array([2])], k=2).tolist() == [[0, 1]]  # without positives: lower index first


def test_recall_divides_by_k_when_there_are_more_positives():
    top = np.array([[0, 1], [0, 1]])
    assert recall_at_k(top, [np.array([0, 1, 2]), np.array([0, 5, 6])]).tolist() == [1.0, 0.5]
    with pytest.raises(ValueError, match="positive"):
        recall_at_k(top[:1], [np.array([], dtype=np.int64)])
    with pytest.raises(ValueError, match="NaN"):
        top_k_items(np.array([[np.nan, 1.0]]), [np.array([], dtype=np.int64)], k=1)


def test_bad_windows_and_unknown_pins_are_refused():
    items = np.arange(10, 16)
    with pytest.raises(ValueError, match="window"):
        all_action_split(items, np.array(list("aabbcc")), INTERACTIONS, test_cutoff=100.0, window_s=0.0)
    unknown = (np.array([1]), np.array([99]), np.array([1.0]))
    with pytest.raises(ValueError, match="catalogue"):
        all_action_split(items, np.array(list("aabbcc")), unknown, test_cutoff=100.0, window_s=10.0)


def test_user_sample_is_fixed_and_category_one_hot(split):
    assert sample_users(split, "test", None).tolist() == [0, 1]
    assert sample_users(split, "test", 1).tolist() == sample_users(split, "test", 1).tolist()
    assert len(sample_users(split, "test", 1)) == 1
    assert category_one_hot(np.array(["b", "a", "b"])).tolist() == [[0, 1], [1, 0], [0, 1]]


def test_log_impressions_counts_pins_shown_before_the_validation_cut_off(split):
    seconds = [50.0, 60.0, 70.0, 95.0, 50.0, 50.0]  # the validation cut-off is at 90
    events = pd.DataFrame(
        {
            "pin_id": pd.array([10, 10, 13, 11, 99, 12], dtype="Int64"),  # pin 99 is not in the catalogue
            "action": ["impression"] * 5 + ["click"],
            "ts": pd.to_datetime(seconds, unit="s", utc=True),
        }
    )
    feature = log_impressions(SimpleNamespace(events=events), split)
    np.testing.assert_allclose(feature[:, 0], [1.0, 0.0, 0.0, np.log(2) / np.log(3), 0.0, 0.0], rtol=1e-6)


def test_both_compared_models_fit_the_time_split(split):
    scored = []
    pinnerformer = PinnerFormerRecommender(
        PinnerFormerConfig(dim=8, layers=1, heads=1, epochs=2, random_negatives=4),
        item_features=category_one_hot(split.item_category),
        validation_score=lambda model: scored.append(model) or all_action_recall(model.scores, split, "validation"),
    )
    pinnerformer.fit(split)
    assert len(scored) == len(pinnerformer.history.validation) == 2
    assert pinnerformer.scores(np.array([0, 1]), "test").shape == (2, 6)
    with pytest.raises(TypeError, match="EvaluationSplit"):
        PinnerFormerRecommender(PinnerFormerConfig(epochs=1)).fit(split)

    pinnersage = PinnerSageRecommender(item_vectors=pinnerformer.item_vectors())
    pinnersage.fit(split)
    assert 0.0 <= all_action_recall(pinnersage.scores, split, "test") <= 1.0
    with pytest.raises(ValueError, match="rows"):
        PinnerSageRecommender(item_vectors=np.ones((2, 3), dtype=np.float32)).fit(split)
