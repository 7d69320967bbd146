"""The two-tower trained on a whole world for serving: a sample of users to train on, its
held-out figures beside the co-engagement baseline's, and every engaged user's current vector."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.world import World
from models.baselines import CoEngagementRecommender
from models.leave_last_out import EvaluationSplit, evaluate_recommender, split_world
from models.training import EpochCallback
from models.two_tower.config import TwoTowerConfig
from models.two_tower.model import user_feature_codes
from models.two_tower.recommender import TwoTowerRecommender
from models.visual import VisualArtifact

USER_FEATURES = ("country", "language", "age_bucket")


@dataclass(frozen=True)
class WorldTwoTower:
    """A two-tower fitted on a sample of a world's users, its held-out figures, and the current
    vector of every user with an engagement."""

    recommender: TwoTowerRecommender
    split: EvaluationSplit  # the sampled users it trained and was measured on
    engaged_users: int  # users the sample was drawn from
    metrics: dict[str, float]
    user_ids: np.ndarray
    user_vectors: np.ndarray


def train_on_world(
    world: World,
    config: TwoTowerConfig,
    *,
    max_users: int,
    visual: VisualArtifact | None = None,
    on_epoch: EpochCallback | None = None,
) -> WorldTwoTower:
    """Fit on at most ``max_users`` of ``world``'s engaged users (``world.users`` carries
    ``USER_FEATURES``; ``visual`` vectors, when given, are extra pin-tower inputs), measure the
    held-out figures and embed every engaged user from their latest actions."""
    everyone = split_world(world)  # per user: latest engagement held out, the one before it for early stopping
    split = user_sample(everyone, max_users, seed=config.seed)
    recommender = TwoTowerRecommender(
        config,
        item_features=None if visual is None else visual.aligned(split.item_ids)[0],
        user_features=world.users.set_index("user_id")[list(USER_FEATURES)],
        on_epoch=on_epoch,
    )
    recommender.fit(split.without_test())
    metrics = holdout_metrics(recommender, split)
    user_ids, user_vectors = current_user_vectors(recommender, world, split)
    return WorldTwoTower(recommender, split, everyone.n_users, metrics, user_ids, user_vectors)


def user_sample(split: EvaluationSplit, max_users: int, *, seed: int) -> EvaluationSplit:
    """``split`` restricted to a random ``max_users`` of its users (all of them if fewer)."""
    if split.n_users <= max_users:
        return split
    keep = np.sort(np.random.default_rng(seed).choice(split.n_users, size=max_users, replace=False))
    return dataclasses.replace(
        split,
        n_users=max_users,
        train=[split.train[user] for user in keep],
        train_times=[split.train_times[user] for user in keep],
        validation=split.validation[keep],
        test=split.test[keep],
        user_ids=split.user_ids[keep],
        validation_times=split.validation_times[keep],
    )


def current_user_vectors(
    recommender: TwoTowerRecommender, world: World, split: EvaluationSplit
) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, unit vectors) of every user with an engagement, from their latest
    ``max_len`` engagements (held-out ones included) and their features."""
    events = world.events.sort_values(["user_id", "ts", "pin_id"], kind="stable")
    latest = events.groupby("user_id", sort=True).tail(recommender.config.max_len)
    user_ids, starts = np.unique(latest["user_id"].to_numpy(dtype=np.int64), return_index=True)
    items = np.split(
        np.searchsorted(split.item_ids, latest["pin_id"].to_numpy(dtype=np.int64)),
        starts[1:],
    )
    times = np.split(latest["ts"].astype("int64").to_numpy() / 1e9, starts[1:])
    features = world.users.set_index("user_id").reindex(user_ids)
    codes = user_feature_codes(features, recommender.config, len(user_ids))
    return user_ids, recommender.embed_users(items, times, codes)


def holdout_metrics(recommender: TwoTowerRecommender, split: EvaluationSplit) -> dict[str, float]:
    """Recall@10/@100 on each user's held-out latest engagement, the two-tower model's and that of
    the co-engagement embedding fit on the same training part; validation recall@10 beside them."""
    baseline = CoEngagementRecommender()
    baseline.fit(split.without_test())
    ks = (10, 100)
    ours, theirs = (evaluate_recommender(model, split, "test", ks=ks) for model in (recommender, baseline))
    return {
        **{f"holdout_recall@{k}": ours[f"recall@{k}"] for k in ks},
        **{f"co_engagement_holdout_recall@{k}": theirs[f"recall@{k}"] for k in ks},
        "validation_recall@10": max(recommender.history.validation, default=float("nan")),
    }
