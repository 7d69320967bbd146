"""The models ``corkboard evaluate`` knows: name -> how to build it and the grid it is tuned on."""

from __future__ import annotations

from dataclasses import dataclass, field

from corkboard.evaluate import builders, grids
from corkboard.evaluate.builders import Builder
from corkboard.evaluate.grids import Grid, settings


@dataclass(frozen=True)
class Entry:
    """A registered model: its builder, and the grid whose settings ``--tune`` compares by validation ndcg@10."""

    build: Builder
    grid: Grid = field(default_factory=dict)  # empty: nothing to tune, one setting (the model's defaults)


MODELS: dict[str, Entry] = {
    "popularity": Entry(builders.popularity),
    "item_cooccurrence": Entry(builders.item_cooccurrence, grids.ITEM_COOCCURRENCE),
    "co_engagement": Entry(builders.co_engagement, grids.CO_ENGAGEMENT),
    "pinnersage": Entry(builders.pinnersage, grids.PINNERSAGE),
    "ease": Entry(builders.ease, grids.EASE),
    "sasrec": Entry(builders.learned("models.sequential", "SASRecRecommender", "SASRecConfig"), grids.SASREC),
    "gru4rec": Entry(builders.learned("models.sequential", "GRU4RecRecommender", "GRU4RecConfig"), grids.GRU4REC),
    "bert4rec": Entry(builders.learned("models.sequential", "BERT4RecRecommender", "BERT4RecConfig"), grids.BERT4REC),
    "pinsage": Entry(builders.learned("models.pinsage", "PinSageRecommender", "PinSageConfig", "recall@10")),
    "two_tower": Entry(builders.learned("models.two_tower", "TwoTowerRecommender", "TwoTowerConfig", "recall@10")),
    "pinnerformer": Entry(builders.pinnerformer, grids.PINNERFORMER),
    "pinnerformer_ease": Entry(builders.pinnerformer_ease_blend, grids.PINNERFORMER_EASE),
}

# The PinnerFormer ablation: one entry per objective and size, each a grid of one setting; run on request.
ABLATIONS: dict[str, Entry] = {
    f"pinnerformer_{setting['objective']}_{setting['size']}": Entry(builders.pinnerformer, grids.fixed(setting))
    for setting in settings(grids.PINNERFORMER_ABLATION)
}
ENTRIES = {**MODELS, **ABLATIONS}
MODEL_NAMES = tuple(ENTRIES)


def entry(name: str) -> Entry:
    """The registered entry ``name``; ValueError naming the known ones otherwise."""
    if name not in ENTRIES:
        raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")
    return ENTRIES[name]
