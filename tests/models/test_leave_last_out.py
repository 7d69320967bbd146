import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from core.world import World, conform
from models.leave_last_out import (
    ChosenOnValidation,
    EvaluationSplit,
    early_stopping_recall,
    evaluate_recommender,
    rank_metrics,
    recommender_ranks,
    scored_users_per_batch,
    split_world,
    target_ranks,
    user_sample,
)
from models.pinsage.world_training import holdout_metrics
from models.training import TrainingHistory

# (user, pin, action, unix seconds). Pins 10..15 are items 0..5.
EVENTS = [
    (1, 12, "click", 100),
    (1, 10, "click", 200),
    (1, 10, "save", 250),  # the same pair again: only its first time counts
    (1, 15, "click", 300),
    (1, 11, "long_click", 300),  # ties with pin 15: item id order puts 11 first
    (2, 13, "long_click", 50),
    (2, 14, "click", 60),
    (2, 10, "save", 70),
    (2, 11, "impression", 80),  # not an interaction
    (2, 12, "hide", 90),  # not an interaction
    (3, 11, "click", 10),  # user 3 has two interactions: dropped
    (3, 12, "click", 20),
    (4, 15, "click", 5),  # three ties: ordered 13, 14, 15
    (4, 14, "click", 5),
    (4, 13, "click", 5),
]
# (board, owner, pin): 15 is owner 1's test item and 14 owner 2's validation item, so both go.
BOARD_PINS = [(100, 1, 15), (100, 1, 12), (101, 3, 11), (101, 3, 12), (102, 2, 14)]


def toy_world() -> World:
    when = lambda seconds: pd.to_datetime(seconds, unit="s", utc=True)
    pins = pd.DataFrame(
        {
            "pin_id": [15, 14, 13, 12, 11, 10],  # unsorted on purpose
            "creator_id": 0,
            "title": [f"title {p}" for p in [15, 14, 13, 12, 11, 10]],
            "description": "words",
            "category": ["b", "b", "a", "a", "a", "a"],
            "image_signature": 0,
            "is_ad": False,
            "merchant_id": pd.NA,
            "created_at": when([0] * 6),
        }
    )
    boards = pd.DataFrame({"board_id": [100, 101, 102], "user_id": [1, 3, 2], "name": "board"})
    board_pins = pd.DataFrame(
        {"board_id": [b for b, _, _ in BOARD_PINS], "pin_id": [p for _, _, p in BOARD_PINS], "saved_at": when([0] * 5)}
    )
    users = pd.DataFrame(
        {"user_id": [1, 2, 3, 4], "country": "US", "language": "en", "age_bucket": "18-24", "signup_at": when([0] * 4)}
    )
    events = pd.DataFrame(
        {
            "event_id": np.arange(len(EVENTS)),
            "user_id": [u for u, _, _, _ in EVENTS],
            "pin_id": [p for _, p, _, _ in EVENTS],
            "action": [a for _, _, a, _ in EVENTS],
            "surface": "homefeed",
            "query": pd.NA,
            "position": pd.NA,
            "ts": when([t for _, _, _, t in EVENTS]),
        }
    )
    tables = {"pins": pins, "boards": boards, "board_pins": board_pins, "users": users, "events": events}
    return World(**{name: conform(name, frame) for name, frame in tables.items()})


@pytest.fixture(scope="module")
def split() -> EvaluationSplit:
    return split_world(toy_world())


def test_split_orders_by_time_then_item_id_and_drops_short_users(split):
    assert split.n_users == 3 and split.n_items == 6
    assert split.user_ids.tolist() == [1, 2, 4] and split.item_ids.tolist() == [10, 11, 12, 13, 14, 15]
    assert [items.tolist() for items in split.train] == [[2, 0], [3], [3]]
    assert [times.tolist() for times in split.train_times] == [[100.0, 200.0], [50.0], [5.0]]
    assert split.validation.tolist() == [1, 4, 4]  # pins 11, 14, 14
    assert split.test.tolist() == [5, 0, 5]  # pins 15, 10, 15
    assert split.validation_times.tolist() == [300.0, 60.0, 5.0]
    assert split.history(0, "validation").tolist() == [2, 0]
    assert split.history(0, "test").tolist() == [2, 0, 1]
    assert split.history_times(0, "test").tolist() == [100.0, 200.0, 300.0]
    assert split.item_text[0] == "title 10. words" and split.item_category.tolist() == ["a"] * 4 + ["b"] * 2
    # Board 100 loses owner 1's test item, board 102 its only (validation) edge; dropped user 3's board stays.
    assert [items.tolist() for items in split.board_items] == [[2], [1, 2]]
    with pytest.raises(ValueError, match="stage"):
        split.history(0, "train")
    with pytest.raises(ValueError, match="nothing to evaluate"):
        split_world(toy_world(), interaction_actions=("save",))


def test_each_interaction_carries_its_strongest_action_known_before_the_next_one(split):
    # User 1: pin 12 clicked; pin 10 clicked, then saved before pin 11; pin 11 (validation) long-clicked.
    assert [kinds.tolist() for kinds in split.train_actions] == [[0, 2], [1], [0]]
    assert split.validation_actions.tolist() == [1, 0, 0]
    assert split.history_actions(0, "validation").tolist() == [0, 2]
    assert split.history_actions(0, "test").tolist() == [0, 2, 1]
    assert split.without_test().train_actions == split.train_actions
    # A save that comes after the user's next interaction is not yet known when that one is predicted,
    # and a strength in the same second as the first time counts however the next interaction ties.
    world = toy_world()
    later = pd.DataFrame({**world.events.iloc[[0]].to_dict("list"), "event_id": [99], "action": ["save"]})
    late_save = later.assign(ts=pd.to_datetime([250], unit="s", utc=True))  # pin 12, after pin 10 at 200
    tied_save = later.assign(user_id=[4], pin_id=[13], ts=pd.to_datetime([5], unit="s", utc=True))
    events = pd.concat([world.events, late_save, tied_save], ignore_index=True)
    changed = split_world(dataclasses.replace(world, events=conform("events", events)))
    assert [kinds.tolist() for kinds in changed.train_actions] == [[0, 2], [1], [2]]
    without = dataclasses.replace(split, train_actions=None, validation_actions=None)
    with pytest.raises(ValueError, match="no interaction actions"):
        without.history_actions(0, "test")


def test_metrics_by_hand():
    target = np.array([5, 0, 5])
    exclude = [np.array([2, 0, 1]), np.array([3, 4]), np.array([3, 4])]
    scores = np.array(
        [
            [9, 8, 7, 1, 3, 3],  # left: item 3 (1), 4 (3), 5 (3); the tie with item 4 counts against: rank 2
            [1, 6, 2, 9, 9, 3],  # left: 0 (1), 1 (6), 2 (2), 5 (3): item 0 is last, rank 4
            [0, 0, 0, 9, 9, 1],  # the excluded 9s do not count: rank 1
        ],
        dtype=np.float32,
    )
    assert target_ranks(scores, target, exclude).tolist() == [2, 4, 1]
    expected = {
        "recall@1": 1 / 3,
        "recall@2": 2 / 3,
        "recall@3": 2 / 3,
        "recall@10": 1.0,
        "ndcg@10": (1 / math.log2(3) + 1 / math.log2(5) + 1.0) / 3,
    }
    for batch_size in (1, 2, 1024):
        metrics = rank_metrics(scores, target, exclude, ks=(1, 2, 3, 10), batch_size=batch_size)
        assert metrics == pytest.approx(expected, abs=1e-12)
    assert scores[0, 0] == 9  # the caller's matrix is left alone
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(np.full((1, 6), np.nan), target[:1], exclude[:1])
    one_nan = np.zeros((40, 6), dtype=np.float32)  # in a later block of rows than the first
    one_nan[33, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(one_nan, np.zeros(40, dtype=np.int64), [np.empty(0, dtype=np.int64)] * 40)


def test_target_ranks_follow_the_rule_on_ties_infinities_and_repeated_exclusions():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_users, n_items = rng.integers(1, 40), rng.integers(1, 10)  # rows in one block and in several
        scores = rng.integers(-2, 3, (n_users, n_items)).astype(np.float32)
        infinite = rng.random(scores.shape) < 0.15  # a row may hold both: its sum is NaN, yet no score is
        scores[infinite] = rng.choice([-np.inf, np.inf], size=int(infinite.sum()))
        target = rng.integers(0, n_items, n_users)
        exclude = [rng.integers(0, n_items, rng.integers(0, 2 * n_items)) for _ in range(n_users)]
        by_hand = [
            1 + sum(scores[u, i] >= scores[u, target[u]] for i in set(range(n_items)) - set(exclude[u]) - {target[u]})
            for u in range(n_users)
        ]
        assert target_ranks(scores, target, exclude).tolist() == by_hand


def test_ndcg_is_zero_below_rank_ten():
    scores = np.arange(20, dtype=np.float64)[None, ::-1].copy()  # item i ranks i + 1
    metrics = rank_metrics(scores, np.array([10]), [np.empty(0, dtype=np.int64)], ks=(10, 11))
    assert metrics == {"recall@10": 0.0, "recall@11": 1.0, "ndcg@10": 0.0}


class FixedScores:
    """Scores are the item index, so the highest item not in the history ranks first."""

    name = "fixed"

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign
        self.config = sign

    def fit(self, split: EvaluationSplit) -> None:
        self.n_items = split.n_items
        self.saw_test = split.test.copy()

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        return np.tile(self.sign * np.arange(self.n_items, dtype=np.float32), (len(users), 1))


def test_evaluate_recommender_uses_each_stage_history(split):
    model = FixedScores()
    model.fit(split.without_test())
    assert model.saw_test.tolist() == [-1, -1, -1]
    # Validation: user 1 (history 2, 0) wants item 1 behind 3, 4, 5 -> rank 4; users 2 and 4 (history 3)
    # want item 4 behind item 5 -> rank 2.
    assert evaluate_recommender(model, split, "validation", ks=(1, 2)) == pytest.approx(
        {"recall@1": 0.0, "recall@2": 2 / 3, "ndcg@10": (1 / math.log2(5) + 2 / math.log2(3)) / 3}
    )
    # Test: item 5 ranks first for users 1 and 4; user 2 wants item 0: items 5, 2, 1 are ahead -> rank 4.
    assert evaluate_recommender(model, split, "test", ks=(1,))["recall@1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="hides"):
        evaluate_recommender(model, split.without_test(), "test")


def test_evaluation_over_chosen_users_reads_only_their_items(split):
    model = FixedScores()
    model.fit(split.without_test())
    # Validation ranks 4, 2, 2 for the users at indices 0, 1, 2 (above).
    assert evaluate_recommender(model, split, "validation", ks=(2,), users=np.array([1, 2]))["recall@2"] == 1.0
    assert evaluate_recommender(model, split, "validation", ks=(2,), users=np.array([0]))["recall@2"] == 0.0
    with pytest.raises(ValueError, match="no users to evaluate"):
        evaluate_recommender(model, split, "validation", users=np.array([], dtype=np.int64))


def test_scores_are_asked_for_in_batches_that_fit_the_byte_budget(split, monkeypatch):
    assert [scored_users_per_batch(n) for n in (50_000, 1_007_616, 2**40)] == [256, 66, 1]
    model, asked = FixedScores(), []
    model.fit(split.without_test())
    scores = model.scores
    model.scores = lambda users, stage: asked.append(len(users)) or scores(users, stage)
    whole = recommender_ranks(model, split, "validation")
    monkeypatch.setattr("models.leave_last_out.SCORE_BATCH_BYTES", 2 * 4 * split.n_items)
    asked.clear()
    np.testing.assert_array_equal(recommender_ranks(model, split, "validation"), whole)
    assert asked == [2, 1]  # three users, two a batch


def test_a_user_sample_holds_every_user_up_to_its_limit_then_one_fixed_sample(split):
    assert user_sample(split, 3).tolist() == [0, 1, 2]
    sample = user_sample(split, 2).tolist()
    assert len(sample) == len(set(sample)) == 2 and sample == sorted(sample) and set(sample) <= {0, 1, 2}
    assert user_sample(split, 2).tolist() == sample
    model = FixedScores()
    model.fit(split.without_test())
    assert early_stopping_recall(model, split) == evaluate_recommender(model, split, "validation")["recall@10"]


class ScoredUsers(FixedScores):
    """``FixedScores`` that records every user it scores."""

    def fit(self, split: EvaluationSplit) -> None:
        super().fit(split)
        self.scored: list[int] = []

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        self.scored.extend(np.asarray(users).tolist())
        return super().scores(users, stage)


def test_held_out_figures_read_every_user_up_to_their_limit_then_the_sample(split, monkeypatch):
    model = ScoredUsers()
    model.fit(split.without_test())
    history = TrainingHistory(validation=[0.5])
    assert holdout_metrics(model, history, split)["holdout_users"] == 3
    assert sorted(model.scored) == [0, 1, 2]
    monkeypatch.setattr("models.pinsage.world_training.HOLDOUT_USERS", 2)
    model.scored.clear()
    assert holdout_metrics(model, history, split)["holdout_users"] == 2
    assert model.scored == user_sample(split, 2).tolist()


def test_model_choice_keeps_the_best_validation_candidate(split):
    # Reversed scores give validation ranks 1, 4, 4: ndcg@10 0.62 against 0.56 for the ranks 4, 2, 2 above.
    chosen = ChosenOnValidation("fixed", [lambda: FixedScores(1.0), lambda: FixedScores(-1.0)])
    chosen.fit(split.without_test())
    assert chosen.config == -1.0
