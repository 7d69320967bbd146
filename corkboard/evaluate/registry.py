"""The models ``corkboard evaluate`` knows: name -> how to build it and the grid it is chosen on."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from corkboard.evaluate import builders, grids
from corkboard.evaluate.builders import Builder, Progress
from corkboard.evaluate.grids import Grid, settings
from models.leave_last_out import ChosenOnValidation, Recommender


@dataclass(frozen=True)
class Entry:
    """A registered model: its builder, and the grid whose settings it is chosen among by validation ndcg@10."""

    build: Builder
    grid: Grid = field(default_factory=dict)  # empty: nothing to choose, one setting (the model's defaults)


MODELS: dict[str, Entry] = {
    "popularity": Entry(builders.popularity),
    "item_cooccurrence": Entry(builders.item_cooccurrence, grids.ITEM_COOCCURRENCE),
    "co_engagement": Entry(builders.co_engagement, grids.CO_ENGAGEMENT),
    "pinnersage": Entry(builders.pinnersage, grids.PINNERSAGE),
    "pinsage": Entry(builders.learned("models.pinsage", "PinSageRecommender")),
    "two_tower": Entry(builders.learned("models.two_tower", "TwoTowerRecommender")),
}

# The PinnerFormer ablation: one entry per objective and size, each a grid of one setting.
ABLATIONS: dict[str, Entry] = {
    f"pinnerformer_{setting['objective']}_{setting['size']}": Entry(builders.pinnerformer, grids.fixed(setting))
    for setting in settings(grids.PINNERFORMER_ABLATION)
}
# Registry entries that are the best of other entries' runs by validation ndcg@10 (each run once).
CHOSEN_FROM: dict[str, tuple[str, ...]] = {"pinnerformer": tuple(ABLATIONS)}
MODEL_NAMES = (*MODELS, *CHOSEN_FROM, *ABLATIONS)


def build_model(name: str, progress: Progress) -> Recommender:
    """The entry ``name`` of ``MODELS`` or ``ABLATIONS``, unfitted; chosen on validation when its grid
    has more than one setting."""
    entry = ABLATIONS.get(name) or MODELS[name]
    candidates = settings(entry.grid)
    if len(candidates) == 1:
        return entry.build(name, candidates[0], progress)
    return ChosenOnValidation(name, [partial(entry.build, name, setting, progress) for setting in candidates])
