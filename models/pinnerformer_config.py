"""PinnerFormer's settings and its time-gap buckets, free of torch: the service reads them to run
the two-tower's user tower in numpy (``models.served.user_tower``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OBJECTIVES = ("next_action", "dense_next_action", "dense_all_action")
VALIDATION_METRICS = ("ndcg@10", "recall@10")
GAP_BUCKETS = 32  # bucket 0: no earlier action; bucket b >= 1: log2(1 + gap seconds) in [b-1, b)


@dataclass
class PinnerFormerConfig:
    """Objective, network shape and training settings; stored in the checkpoint."""

    objective: str = "dense_all_action"
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 50
    window: int = 10  # future actions a dense all-action target is drawn from
    dropout: float = 0.1
    # temperature, batch_size and lr: the best of a small grid on ML-100K validation recall@10
    # (0.05 learned slowly; 128 windows of 50 made one in-batch softmax of 6,400 queries a step).
    temperature: float = 0.2
    random_negatives: int = 256
    full_softmax_items: int = 20_000  # catalogues up to this size train on a softmax over every item
    text_buckets: int = 0  # hashed-word buckets of the item side features; 0: item id vectors only
    exclude_seen: bool = False  # full softmax: a position's earlier items in its window are not candidates
    action_kinds: bool = False  # add a learned vector per action kind (the split's train_actions) to each action
    epochs: int = 200  # at most; training stops on the validation metric
    batch_size: int = 32  # windows per step
    lr: float = 3e-3
    validation_metric: str = "ndcg@10"  # of the validation item; picks the epoch to keep
    patience: int = 10  # epochs without a better validation metric before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if min(self.dim, self.layers, self.heads, self.max_len, self.window, self.batch_size) < 1:
            raise ValueError(f"need dim, layers, heads, max_len, window, batch_size >= 1: {self}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if min(self.epochs, self.random_negatives, self.full_softmax_items, self.text_buckets) < 0 or self.patience < 1:
            raise ValueError(f"need epochs, random_negatives, full_softmax_items, text_buckets >= 0, patience >= 1: {self}")
        if self.validation_metric not in VALIDATION_METRICS:
            raise ValueError(f"validation_metric must be one of {VALIDATION_METRICS}, got {self.validation_metric!r}")
        if self.temperature <= 0 or self.lr <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"need temperature, lr > 0 and dropout in [0, 1): {self}")


def gap_buckets(times: np.ndarray) -> np.ndarray:
    """Per action, the bucket of its gap in seconds to the action before it (``GAP_BUCKETS``)."""
    times = np.asarray(times, dtype=np.float64)
    buckets = np.zeros(len(times), dtype=np.int64)
    if len(times) > 1:
        gaps = np.maximum(np.diff(times), 0.0)
        buckets[1:] = 1 + np.minimum(np.floor(np.log2(1.0 + gaps)), GAP_BUCKETS - 2)
    return buckets
