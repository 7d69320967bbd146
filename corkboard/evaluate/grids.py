"""The settings each model is chosen among on validation, declared as data: parameter -> values tried."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import product
from typing import Any

Grid = Mapping[str, tuple[Any, ...]]
Setting = dict[str, Any]  # one point of a grid

# Keys are the config fields they set. The baselines get the same model choice a learned model gets.
ITEM_COOCCURRENCE: Grid = {"history_half_life": (1.0, 2.0, 4.0, 8.0, 32.0)}
CO_ENGAGEMENT: Grid = {"dim": (16, 32, 64)}
PINNERSAGE: Grid = {
    "dim": (16, 64),
    "distance_threshold": (0.5, 1.0),
    "half_life_days": (1.0,),  # beat 14 days on ml100k's and tiny's validation items wherever we tried both
}
# The standard sequential baselines, each over at least 8 settings (widths, dropout, learning rate and,
# for the attention models, the window: the papers' 200 for MovieLens and 50 elsewhere).
SASREC: Grid = {"hidden": (64, 128), "dropout": (0.2, 0.5), "lr": (1e-3, 3e-3), "max_len": (50, 200)}
GRU4REC: Grid = {"hidden": (64, 128, 256), "dropout": (0.1, 0.3), "lr": (1e-3, 3e-3)}
BERT4REC: Grid = {
    "hidden": (64, 128),
    "dropout": (0.1, 0.3),
    "lr": (1e-3, 3e-3),
    "mask_prob": (0.2, 0.4),  # the paper: 0.2 on dense MovieLens, 0.6 on sparse data
    "max_len": (50, 200),
}
EASE: Grid = {"l2": (50.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1200.0, 2000.0, 3000.0)}  # the paper: 200 to 1,000
# PinnerFormer for the next-item protocol: dense next-action targets, a full softmax (ML-100K's 1,682
# items are under full_softmax_items), each position's earlier items out of its softmax, the action's kind
# as input. Temperature, dropout and item words are the axes ML-100K's validation item still moved on
# in a wider search (width, layers, window, learning rate and batch were settled there).
PINNERFORMER: Grid = {
    "objective": ("dense_next_action",),
    "size": ("base",),
    "exclude_seen": (True,),
    "action_kinds": (True,),
    "temperature": (0.1, 0.15),
    "dropout": (0.1, 0.3),
    "text_buckets": (0, 2048),
}
# PinnerFormer blended with EASE (models.blend, the weight chosen on validation): each part at the setting
# its own grid chose on ML-100K's validation items (corkboard/evaluate/tuned/ml100k.json).
PINNERFORMER_EASE: Grid = {
    **{parameter: values[:1] for parameter, values in PINNERFORMER.items()},
    "temperature": (0.1,),
    "dropout": (0.3,),
    "text_buckets": (0,),
    "ease_l2": (300.0,),
}
# The PinnerFormer ablation: each setting is a registry entry of its own, not a choice.
PINNERFORMER_ABLATION: Grid = {
    "objective": ("next_action", "dense_next_action", "dense_all_action"),
    "size": ("small", "base"),
}

# The all-action comparison (corkboard/evaluate/all_action.py), chosen on validation-window recall@100.
ALL_ACTION_PINNERFORMER: Grid = {"impression_bias": (False, True), "size": ("small", "base")}
ALL_ACTION_PINNERSAGE: Grid = {
    "pin_vectors": ("pinnerformer", "co_engagement"),
    "distance_threshold": PINNERSAGE["distance_threshold"],
    "half_life_days": (1.0, 14.0),
    "dim": (64,),
}


def settings(grid: Grid) -> list[Setting]:
    """Every setting of ``grid``, the last parameter varying fastest; on ties the first one is kept."""
    return [dict(zip(grid, values)) for values in product(*grid.values())]


def fixed(setting: Setting) -> Grid:
    """The grid whose only setting is ``setting``."""
    return {parameter: (value,) for parameter, value in setting.items()}
