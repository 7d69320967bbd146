"""PinSAGE graph embedding (DESIGN.md section 1): inductive pin vectors from content features
and importance-sampled neighbourhoods on the pin-board graph.

``graph`` builds the DGL pin-board graph, ``sampling`` picks each pin's neighbours by random
walk visit counts, ``features`` holds pin content, ``model`` is the network and its checkpoint,
``training`` fits it on co-engaged pairs, ``recommender`` wraps it for the evaluation protocol.
DGL is imported only inside this package.
"""

from __future__ import annotations

import os

os.environ.setdefault("DGLBACKEND", "pytorch")  # before anything in this package imports dgl

from models.pinsage.features import PinFeatures, pin_features
from models.pinsage.graph import pin_board_graph
from models.pinsage.model import (
    CHECKPOINT_KIND,
    PinSage,
    PinSageConfig,
    embed_items,
    load_pinsage,
    sample_neighbours,
    save_pinsage,
)
from models.pinsage.recommender import PinSageRecommender
from models.pinsage.sampling import importance_neighbours, neighbourhood_blocks
from models.pinsage.training import co_engaged_pairs, train_pinsage

__all__ = [
    "CHECKPOINT_KIND",
    "PinFeatures",
    "PinSage",
    "PinSageConfig",
    "PinSageRecommender",
    "co_engaged_pairs",
    "embed_items",
    "importance_neighbours",
    "load_pinsage",
    "neighbourhood_blocks",
    "pin_board_graph",
    "pin_features",
    "sample_neighbours",
    "save_pinsage",
    "train_pinsage",
]
