"""Sequential recommenders from their papers, the baselines a reviewer tries first: SASRec,
GRU4Rec and BERT4Rec, each trained with full-softmax cross entropy over every item.

``batching`` pads and buckets item sequences, ``objectives`` turns them into inputs and targets
(next item; BERT4Rec's cloze lives with it), ``recommender`` is the shared trainer and
``Recommender`` wrapper, ``transformer`` the pieces SASRec and BERT4Rec share, ``config`` the
shared settings; one module per model declares its config and network (the grids they are
tuned on: ``corkboard/evaluate/grids.py``).
"""

from models.sequential.bert4rec import BERT4RecConfig, BERT4RecRecommender
from models.sequential.gru4rec import GRU4RecConfig, GRU4RecRecommender
from models.sequential.sasrec import SASRecConfig, SASRecRecommender

__all__ = [
    "BERT4RecConfig",
    "BERT4RecRecommender",
    "GRU4RecConfig",
    "GRU4RecRecommender",
    "SASRecConfig",
    "SASRecRecommender",
]
