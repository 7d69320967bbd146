"""Two-tower retrieval (DESIGN.md section 1, retrieval training): a user tower and a pin tower
trained jointly with the shared sampled softmax loss; a pin's score for a user is the dot product
of their unit vectors, so pins are served from an HNSW index of the pin tower's output.

- User tower (``user_tower``): PinnerFormer's causal transformer (``models.pinnerformer.PinnerFormer``)
  over the user's last ``max_len`` actions, plus a learned vector per value of each categorical user
  feature (country, language, age bucket, ...), summed and normalized. A feature value never seen
  in training, or a user without features, adds nothing. The service embeds a user on request with
  its numpy form (``models.served.user_tower``), which reads the user side alone from a checkpoint.
- Pin tower: PinSAGE (``models.pinsage``) over content features (hashed text tokens, category,
  log engagement count) and importance neighbours on the pin-board graph, plus (``pin_ids``) a
  learned vector per pin, zero at the start, so a pin that training never saw is embedded from its
  content and neighbours alone.

Training: every window of a user's history predicts targets by PinnerFormer's objectives (the
positions and their target items); the positives and random negatives are embedded by the pin
tower in the same step, and the loss is ``models.retrieval_loss.sampled_softmax_loss`` with
in-batch plus random negatives and logQ correction. Epochs run through ``models.training``.
Names are imported on first use, so importing ``user_tower`` does not import DGL.
"""

from __future__ import annotations

from models.lazy_exports import lazy_exports

_EXPORTS = {
    "CHECKPOINT_KIND": "config",
    "TwoTowerConfig": "config",
    "TwoTower": "model",
    "TwoTowerRecommender": "recommender",
    "train_two_tower": "trainer",
    "UserTower": "user_tower",
    "user_feature_codes": "user_features",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
