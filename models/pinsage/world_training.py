"""PinSAGE trained on a whole world for serving: every pin's vector, and held-out figures beside
the co-engagement baseline's on the same split."""

from __future__ import annotations

from dataclasses import dataclass

from core.world import World
from models.baselines import CoEngagementRecommender
from models.fitting import Fit, fit_here
from models.leave_last_out import (
    HOLDOUT_USERS,
    EvaluationSplit,
    Recommender,
    evaluate_recommender,
    split_world,
    user_sample,
)
from models.pinsage.config import PinSageConfig
from models.pinsage.recommender import PinSageRecommender
from models.training import EpochCallback, TrainingHistory
from models.visual import VisualArtifact


@dataclass(frozen=True)
class WorldPinSage:
    """A PinSAGE fitted on a world's engaged users, the split it was measured on, and its figures."""

    recommender: PinSageRecommender
    split: EvaluationSplit
    metrics: dict[str, float]


def train_on_world(
    world: World,
    config: PinSageConfig,
    *,
    visual: VisualArtifact | None = None,
    on_epoch: EpochCallback | None = None,
    fit: Fit[PinSageRecommender] = fit_here,
) -> WorldPinSage:
    """Fit on ``world``'s engagements (``visual`` vectors, when given, are extra pin inputs) and
    measure the held-out figures; every catalogue pin gets a vector. ``fit`` trains it (default: here)."""
    split = split_world(world)  # per user: latest engagement held out, the one before it for early stopping
    recommender = PinSageRecommender(
        config,
        on_epoch=on_epoch,
        item_features=None if visual is None else visual.aligned(split.item_ids)[0],
    )
    recommender = fit(recommender, split.without_test())
    return WorldPinSage(recommender, split, holdout_metrics(recommender, recommender.history, split))


def holdout_metrics(recommender: Recommender, history: TrainingHistory, split: EvaluationSplit) -> dict[str, float]:
    """Recall@10/@100 on the held-out latest engagement of ``HOLDOUT_USERS`` users (``user_sample``),
    ``recommender``'s and that of the co-engagement embedding fit on the same training part; the
    best validation recall@10 of its training ``history`` and the number of users beside them."""
    baseline = CoEngagementRecommender()
    baseline.fit(split.without_test())
    ks, users = (10, 100), user_sample(split, HOLDOUT_USERS)
    ours, theirs = (evaluate_recommender(model, split, "test", ks=ks, users=users) for model in (recommender, baseline))
    return {
        **{f"holdout_recall@{k}": ours[f"recall@{k}"] for k in ks},
        **{f"co_engagement_holdout_recall@{k}": theirs[f"recall@{k}"] for k in ks},
        "validation_recall@10": max(history.validation, default=float("nan")),
        "holdout_users": float(len(users)),
    }
