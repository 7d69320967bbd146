"""Sequential recommenders from their papers, the baselines a reviewer tries first: SASRec,
GRU4Rec and BERT4Rec, each trained with full-softmax cross entropy over every item.

``batching`` pads and buckets item sequences, ``objectives`` turns them into inputs and targets
(next item; BERT4Rec's cloze lives with it), ``recommender`` is the shared trainer and
``Recommender`` wrapper, ``transformer`` the pieces SASRec and BERT4Rec share, ``config`` the
shared settings and the grid helper; one module per model declares its config, network and grid.
"""

from models.sequential.bert4rec import BERT4RecConfig, BERT4RecRecommender, bert4rec_grid
from models.sequential.gru4rec import GRU4RecConfig, GRU4RecRecommender, gru4rec_grid
from models.sequential.sasrec import SASRecConfig, SASRecRecommender, sasrec_grid

__all__ = [
    "BERT4RecConfig",
    "BERT4RecRecommender",
    "GRU4RecConfig",
    "GRU4RecRecommender",
    "SASRecConfig",
    "SASRecRecommender",
    "bert4rec_grid",
    "gru4rec_grid",
    "sasrec_grid",
]
