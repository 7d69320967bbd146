"""Binary-classification metrics for the ranker's heads, in plain numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """Mean predicted probability beside the observed positive rate of one head."""

    predicted: float
    observed: float

    @property
    def ratio(self) -> float:
        """predicted / observed: 1.0 is calibrated, above 1.0 over-predicts."""
        return self.predicted / self.observed if self.observed > 0 else float("nan")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC from average ranks, so tied scores count one half; NaN if a class is absent."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in length")
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Each group of tied scores shares the mean of the 1-based ranks it spans.
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = mean_rank[inverse][labels].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def calibration(labels: np.ndarray, probs: np.ndarray) -> Calibration:
    """Compare the mean of ``probs`` with the rate of positive ``labels``."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    probs = np.asarray(probs, dtype=np.float64).ravel()
    if labels.shape != probs.shape:
        raise ValueError(f"labels {labels.shape} and probs {probs.shape} differ in length")
    if labels.size == 0:
        return Calibration(predicted=float("nan"), observed=float("nan"))
    return Calibration(predicted=float(probs.mean()), observed=float(labels.mean()))
