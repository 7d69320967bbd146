"""auc and calibration on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import auc, calibration


def test_auc_hand_case() -> None:
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_auc_ties_count_one_half() -> None:
    # Pairs (pos, neg): 0.5 vs 0.5 tie -> 0.5; 0.5 vs 0.2 -> 1; 0.9 vs both -> 2. Total 3.5 / 4.
    assert auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.9, 0.2])) == pytest.approx(0.875)
    assert auc(np.array([1, 0, 1, 0]), np.full(4, 0.3)) == pytest.approx(0.5)


def test_auc_extremes_and_single_class() -> None:
    labels = np.array([0, 1, 0, 1])
    assert auc(labels, labels.astype(float)) == 1.0
    assert auc(labels, 1.0 - labels) == 0.0
    assert math.isnan(auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_auc_matches_pairwise_count_on_random_data() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert auc(labels, scores) == pytest.approx(pairwise)


def test_calibration() -> None:
    result = calibration(np.array([0, 1, 1, 0]), np.array([0.2, 0.6, 0.8, 0.4]))
    assert (result.predicted, result.observed) == pytest.approx((0.5, 0.5))
    assert result.ratio == pytest.approx(1.0)
    assert math.isnan(calibration(np.zeros(2), np.array([0.1, 0.3])).ratio)
