"""PinSAGE's settings: features, network, neighbourhood, training and scoring; stored in the
checkpoint. Free of DGL, so that code which only reads a PinSAGE checkpoint's vectors need not load it."""

from __future__ import annotations

from dataclasses import dataclass

from models.tokenizer import TokenizerConfig

CHECKPOINT_KIND = "pinsage"


@dataclass
class PinSageConfig:
    """Features, network, neighbourhood, training and scoring settings; stored in the checkpoint.

    ``categories`` is the category list the one-hot input is built on (filled from the data
    by ``PinSageRecommender.fit``); ``numeric_features`` is the width of extra numeric input.
    """

    buckets: int = 2**17  # hashed text tokens (models.tokenizer)
    min_n: int = 3
    max_n: int = 5
    categories: tuple[str, ...] = ()
    numeric_features: int = 0
    hidden: int = 64
    dim: int = 64
    layers: int = 2
    neighbours: int = 10  # importance neighbours kept per pin (top visit counts)
    walks: int = 100  # walks per pin when counting visits
    walk_length: int = 3  # pin -> board -> pin hops per walk at most
    restart_prob: float = 0.5  # chance a walk ends after each hop
    temperature: float = 0.05
    lr: float = 3e-3
    batch_size: int = 1024
    random_negatives: int = 256
    epochs: int = 100  # at most; fit stops early on validation
    patience: int = 10  # epochs without a better validation score before stopping (the issue: at least 10)
    pair_window: int = 1  # history neighbours this far apart make a training pair
    correct_sampling_bias: bool = True
    split_boards: bool = True  # recommender: walk the split's boards
    history_boards: bool = True  # recommender: and each user's training history as a board
    history_decay: float = 0.5  # recommender: weight of each older history item relative to the next
    engagement_feature: bool = True  # recommender: log training interactions as a numeric input
    seed: int = 0

    def __post_init__(self) -> None:
        self.categories = tuple(str(label) for label in self.categories)
        _ = self.tokenizer  # building it validates the tokenizer fields
        if min(self.hidden, self.dim, self.layers, self.neighbours, self.walks, self.walk_length) < 1:
            raise ValueError(f"need hidden, dim, layers, neighbours, walks, walk_length >= 1: {self}")
        if min(self.batch_size, self.pair_window) < 1 or min(self.epochs, self.numeric_features) < 0:
            raise ValueError(f"need batch_size, pair_window >= 1 and epochs, numeric_features >= 0: {self}")
        if not 0 <= self.restart_prob < 1 or not 0 < self.history_decay <= 1:
            raise ValueError(f"need 0 <= restart_prob < 1 and 0 < history_decay <= 1: {self}")
        if self.temperature <= 0 or self.lr <= 0 or self.random_negatives < 0 or self.patience < 1:
            raise ValueError(f"need temperature, lr > 0, random_negatives >= 0, patience >= 1: {self}")

    @property
    def tokenizer(self) -> TokenizerConfig:
        """The tokenizer settings as their own config."""
        return TokenizerConfig(self.buckets, self.min_n, self.max_n)
