"""The two-tower trained on a whole world for serving: its held-out figures beside the
co-engagement baseline's, and every engaged user's current vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.world import World
from models.fitting import Fit, fit_here
from models.leave_last_out import EvaluationSplit, split_world
from models.pinsage.world_training import holdout_metrics
from models.training import EpochCallback
from models.two_tower.config import TwoTowerConfig
from models.two_tower.recommender import TwoTowerRecommender
from models.two_tower.user_features import user_feature_codes
from models.visual import VisualArtifact

USER_FEATURES = ("country", "language", "age_bucket")


@dataclass(frozen=True)
class WorldTwoTower:
    """A two-tower fitted on a world's engaged users, its held-out figures, and the current
    vector of every user with an engagement."""

    recommender: TwoTowerRecommender
    split: EvaluationSplit  # the users it trained and was measured on
    metrics: dict[str, float]
    user_ids: np.ndarray
    user_vectors: np.ndarray


def train_on_world(
    world: World,
    config: TwoTowerConfig,
    *,
    visual: VisualArtifact | None = None,
    on_epoch: EpochCallback | None = None,
    fit: Fit[TwoTowerRecommender] = fit_here,
) -> WorldTwoTower:
    """Fit on every engaged user of ``world`` (``world.users`` carries ``USER_FEATURES``;
    ``visual`` vectors, when given, are extra pin-tower inputs), measure the held-out figures and
    embed every engaged user from their latest actions. ``fit`` trains it (default: here)."""
    split = split_world(world)  # per user: latest engagement held out, the one before it for early stopping
    recommender = TwoTowerRecommender(
        config,
        item_features=None if visual is None else visual.aligned(split.item_ids)[0],
        user_features=world.users.set_index("user_id")[list(USER_FEATURES)],
        on_epoch=on_epoch,
    )
    recommender = fit(recommender, split.without_test())
    metrics = holdout_metrics(recommender, recommender.history, split)
    user_ids, user_vectors = current_user_vectors(recommender, world, split)
    return WorldTwoTower(recommender, split, metrics, user_ids, user_vectors)


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

