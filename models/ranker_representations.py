"""The learned pin vectors as of the ranker's training window, for its similarity features.

The served PinSAGE was trained on the whole log, the training window's clicks included: a pin that a
user clicks in the window is pulled towards that user's earlier pins (they are training pairs and
share a history board), so their cosine would leak the label (as the serving co-engagement
embedding once did: click AUC 0.91 instead of 0.70). Here PinSAGE is trained again, on the
engagements before the window only; the content vectors (text, visual) embed a pin from its words
or image and are taken as served.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from core.world import World
from models.pinsage.config import PinSageConfig
from models.pinsage.world_training import train_on_world
from models.ranker_similarities import VectorTable
from models.training import EpochCallback
from models.visual import VisualArtifact


@dataclass(frozen=True)
class LearnedTables:
    """Per learned kind, pin vectors as of a time, and the held-out figures of the model trained
    for it."""

    pins: dict[str, VectorTable]
    metrics: dict[str, dict[str, float]]


def learned_tables_before(
    world: World,
    since: pd.Timestamp,
    names: Sequence[str],
    *,
    pinsage: PinSageConfig,
    content: Mapping[str, VectorTable],
    visual: VisualArtifact | None = None,
    on_epoch: EpochCallback | None = None,
) -> LearnedTables:
    """The pin tables of ``names`` from ``world``'s engagements before ``since``: ``pinsage``
    trained on them now with the ``pinsage`` config, ``content`` kinds (pin tables that never saw
    an engagement) as given."""
    before = dataclasses.replace(world, events=world.events[world.events["ts"] < since])
    pins = {name: table for name, table in content.items() if name in names}
    metrics: dict[str, dict[str, float]] = {}
    if "pinsage" in names:
        fit = train_on_world(before, pinsage, visual=visual, on_epoch=on_epoch)
        pins["pinsage"] = VectorTable(fit.split.item_ids, fit.recommender.item_vectors)
        metrics["pinsage"] = fit.metrics
    return LearnedTables(pins, metrics)
