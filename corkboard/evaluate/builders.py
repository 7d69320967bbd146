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
from models.ease import EASEConfig, EASERecommender
from models.leave_last_out import Recommender
from models.pinnersage import PinnerSageConfig

Progress = Callable[[str], None]
EpochHook = Callable[[int, float, float], None]
# (registry name, one setting, seed, progress) -> an unfitted model; deterministic models ignore the seed
Builder = Callable[[str, Setting, int, Progress], Recommender]


def epoch_reporter(label: str, metric: str, progress: Progress) -> EpochHook:
    """An ``on_epoch`` hook that reports each epoch's loss and validation ``metric`` as one line."""

    def on_epoch(epoch: int, loss: float, score: float) -> None:
        progress(f"{label}: epoch {epoch} loss {loss:.4f} validation {metric} {score:.4f}")

    return on_epoch


def popularity(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """Most interacted items first."""
    return PopularityRecommender()


def item_cooccurrence(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """Item-item co-occurrence; ``setting`` holds ``ItemCooccurrenceConfig`` fields."""
    return ItemCooccurrenceRecommender(ItemCooccurrenceConfig(**setting))


def co_engagement(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """Co-engagement factorization; ``setting`` holds ``CoEngagementConfig`` fields."""
    return CoEngagementRecommender(CoEngagementConfig(**setting, seed=seed))


def ease(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """EASE in closed form; ``setting`` holds ``EASEConfig`` fields."""
    return EASERecommender(EASEConfig(**setting))


def pinnersage_config(setting: Setting, seed: int = 0) -> PinnerSageRecommenderConfig:
    """PinnerSage's clusters (``distance_threshold``, ``half_life_days``) over co-engagement vectors (``dim``)."""
    return PinnerSageRecommenderConfig(
        PinnerSageConfig(distance_threshold=setting["distance_threshold"], half_life_days=setting["half_life_days"]),
        CoEngagementConfig(dim=setting["dim"], seed=seed),
    )


def pinnersage(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """PinnerSage over co-engagement vectors at ``setting`` (see ``pinnersage_config``)."""
    return PinnerSageRecommender(pinnersage_config(setting, seed))


def learned(module: str, recommender: str, config: str, metric: str = "ndcg@10") -> Builder:
    """The builder of ``module``'s ``recommender`` class, given its ``config`` class built from the
    setting and the seed; it early-stops on validation ``metric``, reported each epoch. The module is
    imported only when the model is asked for."""

    def build(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
        loaded = importlib.import_module(module)
        model_config = getattr(loaded, config)(**setting, seed=seed)
        return getattr(loaded, recommender)(model_config, on_epoch=epoch_reporter(name, metric, progress))

    return build


def pinnerformer_model(
    name: str,
    objective: str,
    size: str,
    on_epoch: EpochHook,
    seed: int = 0,
    fields: Setting | None = None,
    **options: Any,
) -> Recommender:
    """PinnerFormer with ``objective`` at one of the module's ``SIZES``, other config ``fields`` set as
    given; ``options`` go to its recommender."""
    module = importlib.import_module("models.pinnerformer")
    config = module.PinnerFormerConfig(objective=objective, seed=seed, **{**module.SIZES[size], **(fields or {})})
    return module.PinnerFormerRecommender(config, name=name, on_epoch=on_epoch, **options)


def pinnerformer(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """PinnerFormer at ``setting``'s ``objective`` and ``size`` (and any other config field it names),
    early-stopping on the validation items' ``validation_metric``."""
    fields = {key: value for key, value in setting.items() if key not in ("objective", "size")}
    default_metric = importlib.import_module("models.pinnerformer").PinnerFormerConfig.validation_metric
    reporter = epoch_reporter(name, fields.get("validation_metric", default_metric), progress)
    return pinnerformer_model(name, setting["objective"], setting["size"], reporter, seed, fields)


def pinnerformer_ease_blend(name: str, setting: Setting, seed: int, progress: Progress) -> Recommender:
    """PinnerFormer at ``setting`` (as ``pinnerformer`` reads it) blended with EASE at ``setting['ease_l2']``,
    the blend weight chosen on the validation items (``models.blend``)."""
    blend = importlib.import_module("models.blend")
    sequence_setting = {key: value for key, value in setting.items() if key != "ease_l2"}
    first = pinnerformer(name, sequence_setting, seed, progress)
    return blend.BlendRecommender(first, ease(name, {"l2": setting["ease_l2"]}, seed, progress), name=name)
