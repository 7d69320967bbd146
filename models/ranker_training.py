"""The ranker trained on logged impressions: the signals of the history before them (co-engagement
vectors, each user's category interests, the learned representations' user and pin vectors), the
encoded rows, the fit, and its per-head comparison with the engagement-rate baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.co_engagement import CoEngagementConfig, CoEngagementModel, fit_co_engagement
from models.interests import impression_interests
from models.metrics import auc
from models.ranker import MultiTaskRanker, RankerConfig, TrainingReport, train_ranker
from models.ranker_config import ACTIONS
from models.ranker_features import FeatureEncoder


@dataclass(frozen=True)
class FeatureColumns:
    """The feature columns of a training frame that the encoder reads, block by block."""

    user_numeric: Sequence[str]
    user_categorical: Sequence[str]
    pin_numeric: Sequence[str]
    pin_categorical: Sequence[str]


@dataclass(frozen=True)
class SimilarityFeatures:
    """The learned-embedding cosines of a training frame's rows, one column per name
    (``models.ranker_similarities``)."""

    names: tuple[str, ...]
    values: np.ndarray

    def means(self) -> dict[str, float]:
        """Each similarity's mean over the rows: what the ranker saw of it, at a glance."""
        return {name: round(float(self.values[:, column].mean()), 4) for column, name in enumerate(self.names)}


@dataclass(frozen=True)
class RankerFit:
    """A trained ranker with its encoder, its training report and the per-head quality table."""

    model: MultiTaskRanker
    encoder: FeatureEncoder
    report: TrainingReport
    quality: pd.DataFrame


def history_signals(
    history: pd.DataFrame,
    impressions: pd.DataFrame,
    *,
    since: pd.Timestamp,
    user_ids: np.ndarray,
    pins: pd.DataFrame,
) -> tuple[CoEngagementModel, np.ndarray]:
    """Co-engagement vectors fit on the engagements of ``history`` before ``since`` (the serving
    embedding has seen the impressions' labels, so it would leak them), and each impression's
    interest of its user in its pin's category from the user's engagements before the impression.

    ``user_ids`` is sorted; ``pins`` (pin_id, category) is sorted by pin_id."""
    before = history[history["ts"] < since]
    vectors, _ = fit_co_engagement(before, user_ids, pins["pin_id"].to_numpy(), CoEngagementConfig())
    return vectors, impression_interests(history, impressions, pins)


def fit_ranker(
    frame: pd.DataFrame,
    vectors: CoEngagementModel,
    interest: np.ndarray,
    *,
    columns: FeatureColumns,
    similarities: SimilarityFeatures | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> RankerFit:
    """Encode ``frame`` (labelled impressions with their features, user_id, pin_id, position)
    with the user and pin ``vectors``, ``interest`` and the learned ``similarities`` (none when
    not given), and train one head per action on it, initialized and shuffled by ``seed``."""
    learned = similarities or SimilarityFeatures((), np.zeros((len(frame), 0), dtype=np.float32))
    encoder = FeatureEncoder.fit(
        frame,
        user_numeric=columns.user_numeric,
        user_categorical=columns.user_categorical,
        pin_numeric=columns.pin_numeric,
        pin_categorical=columns.pin_categorical,
        vector_dim=vectors.pin_vectors.shape[1],
        similarities=learned.names,
    )
    features = encoder.encode(
        frame,
        vectors.user_vectors_for(frame["user_id"].to_numpy()),
        vectors.pin_vectors_for(frame["pin_id"].to_numpy()),
        frame["position"].fillna(0).to_numpy(),
        interest,
        learned.values,
    )
    labels = frame[list(ACTIONS)].to_numpy(dtype=np.float32)
    config = RankerConfig(input_dim=encoder.input_dim, seed=seed)
    model, report = train_ranker(features, labels, config, on_epoch=on_epoch)
    quality = per_head_quality(frame, labels, model.predict(features), report.valid_auc)
    return RankerFit(model, encoder, report, quality)


def per_head_quality(
    frame: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, valid_auc: dict[str, float]
) -> pd.DataFrame:
    """Per head: positive rate, mean prediction, validation AUC, and the AUC of the pin's 30-day rate alone
    (the baseline is untrained, so its AUC over all rows estimates the same quantity)."""
    rows = []
    for column, action in enumerate(ACTIONS):
        baseline = frame[f"pin_engagement__{action}_rate_30d"].to_numpy(dtype=np.float64)
        rows.append(
            {
                "head": action,
                "positive_rate": round(float(labels[:, column].mean()), 4),
                "mean_prediction": round(float(probs[:, column].mean()), 4),
                "ranker_valid_auc": round(valid_auc.get(action, float("nan")), 4),
                "engagement_rate_auc": round(auc(labels[:, column], baseline), 4),
            }
        )
    return pd.DataFrame(rows)
