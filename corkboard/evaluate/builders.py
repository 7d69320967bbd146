"""Each model at one setting of its grid, unfitted; the learned ones are imported only when asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from corkboard.evaluate.grids import Setting
from models.baselines import (
    CoEngagementRecommender,
    ItemCooccurrenceConfig,
    ItemCooccurrenceRecommender,
    PinnerSageRecommender,
    PinnerSageRecommenderConfig,
    PopularityRecommender,
)
from models.co_engagement import CoEngagementConfig
from models.leave_last_out import Recommender
from models.pinnersage import PinnerSageConfig

Progress = Callable[[str], None]
EpochHook = Callable[[int, float, float], None]
# (registry name, one setting, progress) -> an unfitted model
Builder = Callable[[str, Setting, Progress], Recommender]


def epoch_reporter(label: str, metric: str, progress: Progress) -> EpochHook:
    """An ``on_epoch`` hook that reports each epoch's loss and validation ``metric`` as one line."""

    def on_epoch(epoch: int, loss: float, score: float) -> None:
        progress(f"{label}: epoch {epoch} loss {loss:.4f} validation {metric} {score:.4f}")

    return on_epoch


def popularity(name: str, setting: Setting, progress: Progress) -> Recommender:
    """Most interacted items first."""
    return PopularityRecommender()


def item_cooccurrence(name: str, setting: Setting, progress: Progress) -> Recommender:
    """Item-item co-occurrence; ``setting`` holds ``ItemCooccurrenceConfig`` fields."""
    return ItemCooccurrenceRecommender(ItemCooccurrenceConfig(**setting))


def co_engagement(name: str, setting: Setting, progress: Progress) -> Recommender:
    """Co-engagement factorization; ``setting`` holds ``CoEngagementConfig`` fields."""
    return CoEngagementRecommender(CoEngagementConfig(**setting))


def pinnersage_config(setting: Setting) -> PinnerSageRecommenderConfig:
    """PinnerSage's clusters (``distance_threshold``, ``half_life_days``) over co-engagement vectors (``dim``)."""
    return PinnerSageRecommenderConfig(
        PinnerSageConfig(distance_threshold=setting["distance_threshold"], half_life_days=setting["half_life_days"]),
        CoEngagementConfig(dim=setting["dim"]),
    )


def pinnersage(name: str, setting: Setting, progress: Progress) -> Recommender:
    """PinnerSage over co-engagement vectors at ``setting`` (see ``pinnersage_config``)."""
    return PinnerSageRecommender(pinnersage_config(setting))


def learned(module: str, recommender: str) -> Builder:
    """The builder of ``module``'s ``recommender`` class, which early-stops on the validation items and
    takes no setting; the module is imported only when the model is asked for."""

    def build(name: str, setting: Setting, progress: Progress) -> Recommender:
        model_class = getattr(importlib.import_module(module), recommender)
        return model_class(on_epoch=epoch_reporter(name, "recall@10", progress))

    return build


def pinnerformer_model(name: str, objective: str, size: str, on_epoch: EpochHook, **options: Any) -> Recommender:
    """PinnerFormer with ``objective`` at one of the module's ``SIZES``; ``options`` go to its recommender."""
    module = importlib.import_module("models.pinnerformer")
    config = module.PinnerFormerConfig(objective=objective, **module.SIZES[size])
    return module.PinnerFormerRecommender(config, name=name, on_epoch=on_epoch, **options)


def pinnerformer(name: str, setting: Setting, progress: Progress) -> Recommender:
    """PinnerFormer at ``setting``'s ``objective`` and ``size``, early-stopping on the validation items."""
    return pinnerformer_model(name, setting["objective"], setting["size"], epoch_reporter(name, "recall@10", progress))
