"""The learned similarities of the ranker's training rows, from pin vectors cross-fitted around
its training window.

The served PinSAGE was trained on the whole log, the training window's clicks included: a pin that
a user clicks in the window is pulled towards that user's earlier pins (they are training pairs and
share a history board), so their cosine would leak the label (as the serving co-engagement
embedding once did: click AUC 0.91 instead of 0.70). A copy trained only before the window does
not leak, but it is weaker than the served PinSAGE, and the ranker learned to trust it less than
the served one deserves. So PinSAGE is trained once per fold of users (``models.cross_fitting``),
on everything but that fold's window, and a row reads its user's fold. The content vectors (text,
visual) embed a pin from its words or image and are taken as served.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.world import World
from models.cross_fitting import fold_events
from models.pinsage.config import PinSageConfig
from models.pinsage.world_training import train_on_world
from models.ranker_similarities import VectorTable, impression_similarities
from models.training import EpochCallback
from models.visual import VisualArtifact


@dataclass(frozen=True)
class CrossFittedSimilarities:
    """``[rows, len(names)]`` learned similarities of the training rows, and the held-out figures
    of each fold's PinSAGE (``pinsage_fold_0``, ...)."""

    values: np.ndarray
    metrics: dict[str, dict[str, float]]


def cross_fitted_similarities(
    world: World,
    since: pd.Timestamp,
    impressions: pd.DataFrame,
    names: Sequence[str],
    *,
    pinsage: PinSageConfig,
    content: Mapping[str, VectorTable],
    visual: VisualArtifact | None = None,
    on_epoch: Callable[[int], EpochCallback | None] = lambda fold: None,
) -> CrossFittedSimilarities:
    """``impression_similarities`` of ``impressions`` (user_id, pin_id, event_timestamp) for the
    kinds ``names``: ``content`` kinds (pin tables that never saw an engagement) as given, and
    "pinsage" from a copy trained with the ``pinsage`` config per fold on ``world`` without that
    fold's engagements at or after ``since``; ``on_epoch(fold)`` reports that copy's epochs."""
    values = np.zeros((len(impressions), len(names)), dtype=np.float32)
    metrics: dict[str, dict[str, float]] = {}
    for fold, (events, rows) in enumerate(fold_events(world.events, impressions, since)):
        pins = {name: table for name, table in content.items() if name in names}
        if "pinsage" in names:
            fit = train_on_world(
                dataclasses.replace(world, events=events), pinsage, visual=visual, on_epoch=on_epoch(fold)
            )
            pins["pinsage"] = VectorTable(fit.split.item_ids, fit.recommender.item_vectors)
            metrics[f"pinsage_fold_{fold}"] = fit.metrics
        values[rows] = impression_similarities(names, impressions[rows], world.events, pins)
    return CrossFittedSimilarities(values, metrics)
