"""Two-tower retrieval (DESIGN.md section 1, retrieval training): a user tower and a pin tower
trained jointly with the shared sampled softmax loss; a pin's score for a user is the dot product
of their unit vectors, so pins are served from an HNSW index of the pin tower's output.

- User tower: PinnerFormer's causal transformer (``models.pinnerformer.PinnerFormer``) over the
  user's last ``max_len`` actions, plus a learned vector per value of each categorical user
  feature (country, language, age bucket, ...), summed and normalized. A feature value never seen
  in training, or a user without features, adds nothing.
- Pin tower: PinSAGE (``models.pinsage``) over content features (hashed text tokens, category,
  log engagement count) and importance neighbours on the pin-board graph, plus (``pin_ids``) a
  learned vector per pin, zero at the start, so a pin that training never saw is embedded from its
  content and neighbours alone.

Training: every window of a user's history predicts targets by PinnerFormer's objectives (the
positions and their target items); the positives and random negatives are embedded by the pin
tower in the same step, and the loss is ``models.retrieval_loss.sampled_softmax_loss`` with
in-batch plus random negatives and logQ correction. Epochs run through ``models.training``.
"""

from models.two_tower.config import TwoTowerConfig
from models.two_tower.model import TwoTower, user_feature_codes
from models.two_tower.recommender import CHECKPOINT_KIND, TwoTowerRecommender
from models.two_tower.trainer import train_two_tower

__all__ = [
    "CHECKPOINT_KIND",
    "TwoTower",
    "TwoTowerConfig",
    "TwoTowerRecommender",
    "train_two_tower",
    "user_feature_codes",
]
