"""The learned representations as of the ranker's training window, for its similarity features.

The served two-tower and PinSAGE were trained on the whole log, the training window's clicks
included: a pin that a user clicks in the window is pulled towards that user's earlier pins, so
their cosine would leak the label (as the serving co-engagement embedding once did: click AUC 0.91
instead of 0.70). Here both are trained again, on the engagements before the window only; the
content vectors (text, visual) embed a pin from its words or image and are taken as served.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.world import World
from models.pinsage.config import PinSageConfig
from models.pinsage.world_training import train_on_world as train_pinsage_on_world
from models.ranker_similarities import VectorTable, history_tables
from models.training import EpochCallback
from models.two_tower.config import TwoTowerConfig
from models.two_tower.world_training import train_on_world as train_two_tower_on_world
from models.visual import VisualArtifact


@dataclass(frozen=True)
class LearnedTables:
    """Per learned kind, user-side and pin-side vectors as of a time, and the held-out figures of
    the models trained for it."""

    users: dict[str, VectorTable]
    pins: dict[str, VectorTable]
    metrics: dict[str, dict[str, float]]


@dataclass(frozen=True)
class RetrainedConfigs:
    """How to train the copies of the engagement-trained models (the served assets' settings)."""

    two_tower: TwoTowerConfig
    pinsage: PinSageConfig


def learned_tables_before(
    world: World,
    since: pd.Timestamp,
    names: Sequence[str],
    *,
    configs: RetrainedConfigs,
    content: Mapping[str, VectorTable],
    user_ids: np.ndarray,
    visual: VisualArtifact | None = None,
    on_epoch: EpochCallback | None = None,
) -> LearnedTables:
    """The user and pin tables of ``names`` from ``world``'s engagements before ``since``:
    ``two_tower`` and ``pinsage`` trained on them now, ``content`` kinds (pin tables that never saw
    an engagement) as given; each user's history means over those engagements. ``user_ids`` is
    sorted and holds every user."""
    before = dataclasses.replace(world, events=world.events[world.events["ts"] < since])
    pins = {name: table for name, table in content.items() if name in names}
    users: dict[str, VectorTable] = {}
    metrics: dict[str, dict[str, float]] = {}
    if "two_tower" in names:
        towers = train_two_tower_on_world(before, configs.two_tower, visual=visual, on_epoch=on_epoch)
        pins["two_tower"] = VectorTable(towers.split.item_ids, towers.recommender.item_vectors)
        users["two_tower"] = VectorTable(towers.user_ids, towers.user_vectors)
        metrics["two_tower"] = towers.metrics
    if "pinsage" in names:
        pinsage = train_pinsage_on_world(before, configs.pinsage, visual=visual, on_epoch=on_epoch)
        pins["pinsage"] = VectorTable(pinsage.split.item_ids, pinsage.recommender.item_vectors)
        metrics["pinsage"] = pinsage.metrics
    users.update(history_tables(before.events, pins, user_ids))
    return LearnedTables(users, pins, metrics)
