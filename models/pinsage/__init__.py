"""PinSAGE graph embedding (DESIGN.md section 1): inductive pin vectors from content features
and importance-sampled neighbourhoods on the pin-board graph.

``config`` holds the settings, ``graph`` builds the DGL pin-board graph, ``sampling`` picks each
pin's neighbours by random walk visit counts, ``features`` holds pin content, ``model`` is the
network and its checkpoint, ``training`` fits it on co-engaged pairs, ``recommender`` wraps it for
the evaluation protocol, ``world_training`` fits it on a whole world for serving, and
``pin_vectors`` reads a served version's vectors. DGL is imported only inside this package, and
only by the modules that need it: names are imported on first use, so ``config`` and
``pin_vectors`` load without DGL (the service reads them).
"""

from __future__ import annotations

import os

from models.lazy_exports import lazy_exports

os.environ.setdefault("DGLBACKEND", "pytorch")  # before anything in this package imports dgl

_EXPORTS = {
    "CHECKPOINT_KIND": "config",
    "PinSageConfig": "config",
    "PinFeatures": "features",
    "pin_features": "features",
    "pin_board_graph": "graph",
    "PinSage": "model",
    "embed_items": "model",
    "load_pinsage": "model",
    "sample_neighbours": "model",
    "save_pinsage": "model",
    "PinSageRecommender": "recommender",
    "importance_neighbours": "sampling",
    "neighbourhood_blocks": "sampling",
    "co_engaged_pairs": "training",
    "train_pinsage": "training",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
