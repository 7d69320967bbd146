"""Hiding the test items changes nothing a model learns: every registered model, fitted once on the
split with its test items and once with them hidden, scores the validation items the same."""

from collections.abc import Callable

import numpy as np
import pytest

from corkboard.evaluate.grids import settings
from corkboard.evaluate.registry import MODELS, entry
from core.sources import load_world
from models.leave_last_out import EvaluationSplit, Recommender, split_world

QUICK = {"epochs": 2}  # enough to train; the question is whether the inputs differ, not how well it learns


@pytest.fixture(scope="module")
def split() -> EvaluationSplit:
    world, _ = load_world("tiny")
    return split_world(world)


def quick_setting(name: str) -> dict:
    setting = settings(entry(name).grid)[0]
    if name in ("sasrec", "gru4rec", "bert4rec", "pinsage", "two_tower"):
        return {**setting, **QUICK}
    if name == "pinnerformer":
        return {**setting, **QUICK, "size": "small"}
    return setting


def validation_scores(build: Callable[[], Recommender], split: EvaluationSplit) -> tuple[np.ndarray, np.ndarray]:
    """The validation scores of a model fitted on ``split`` as is, and of one fitted with its test items hidden."""
    users = np.arange(split.n_users)
    scores = []
    for given in (split, split.without_test()):
        model = build()
        model.fit(given)
        scores.append(model.scores(users, "validation"))
    return scores[0], scores[1]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hiding_the_test_items_changes_no_score(name: str, split: EvaluationSplit) -> None:
    seen, hidden = validation_scores(lambda: entry(name).build(name, quick_setting(name), 0, lambda line: None), split)
    np.testing.assert_array_equal(seen, hidden)


class PeekingPopularity:
    """Counts the test items too: the leak the check above exists to catch."""

    name = "peeking"

    def fit(self, split: EvaluationSplit) -> None:
        counts = np.bincount(np.concatenate(split.train), minlength=split.n_items).astype(float)
        visible = split.test[split.test >= 0]
        self.counts = counts + np.bincount(visible, minlength=split.n_items)

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        return np.tile(self.counts, (len(users), 1))


def test_the_check_catches_a_model_that_reads_test_items(split: EvaluationSplit) -> None:
    seen, hidden = validation_scores(PeekingPopularity, split)
    assert not np.array_equal(seen, hidden)
