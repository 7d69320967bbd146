"""BERT4Rec (Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer", CIKM 2019): a bidirectional transformer trained on the cloze
task, full-softmax cross entropy over every item at each masked position.

Training masks each item of a user's last ``max_len`` with probability ``mask_prob`` (always by
the mask token: the paper has no BERT-style random or kept replacements); a ``last_only_share``
of the samples mask only the last item, the paper's samples that match prediction. To predict,
the mask token is appended to the history and its output scored. Blocks follow BERT: LayerNorm
after each residual, GELU feed-forward of width 4 * ``hidden``; the output layer is a GELU
projection, then the item embedding plus a bias per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from models.sequential.batching import IGNORE, left_pad, padding_token
from models.sequential.config import SequentialConfig
from models.sequential.objectives import TrainingBatch
from models.sequential.recommender import SequenceNetwork, SequentialRecommender
from models.sequential.transformer import PositionalItemEmbedding, transformer_blocks


@dataclass(frozen=True)
class BERT4RecConfig(SequentialConfig):
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.1
    weight_decay: float = 0.01
    mask_prob: float = 0.2  # the paper's best on MovieLens-1M
    # On ML-100K validation sits at popularity's level for 10-20 epochs before the context is
    # used; a patience of 10 stopped most runs inside that plateau.
    patience: int = 30
    last_only_share: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.blocks, self.heads) < 1 or self.hidden % self.heads:
            raise ValueError(f"need blocks, heads >= 1 and hidden divisible by heads: {self}")
        if self.max_len < 2 or not 0 < self.mask_prob < 1 or not 0 <= self.last_only_share <= 1:
            raise ValueError(f"need max_len >= 2, mask_prob in (0, 1) and last_only_share in [0, 1]: {self}")


def mask_token(n_items: int) -> int:
    """The id that stands for a hidden item: one past the padding token."""
    return padding_token(n_items) + 1


@dataclass(frozen=True)
class Cloze:
    """Masked-item training on each user's last ``max_len`` items; the query is the history with
    the mask token appended."""

    config: BERT4RecConfig
    n_items: int

    def training_window(self, sequence: np.ndarray) -> np.ndarray | None:
        return sequence[-self.config.max_len :] if len(sequence) else None

    def batch(self, windows: Sequence[np.ndarray], rng: np.random.Generator) -> TrainingBatch:
        inputs, targets = [], []
        for window in windows:
            masked = rng.random(len(window)) < self.config.mask_prob
            if rng.random() < self.config.last_only_share:
                masked[:] = False
                masked[-1] = True
            elif not masked.any():  # a sample without a masked item teaches nothing
                masked[rng.integers(len(window))] = True
            inputs.append(np.where(masked, mask_token(self.n_items), window))
            targets.append(np.where(masked, window, IGNORE))
        return TrainingBatch(left_pad(inputs, padding_token(self.n_items)), left_pad(targets, IGNORE))

    def query(self, histories: Sequence[np.ndarray]) -> Tensor:
        appended = [np.append(history[-(self.config.max_len - 1) :], mask_token(self.n_items)) for history in histories]
        return left_pad(appended, padding_token(self.n_items))


class BERT4Rec(SequenceNetwork):
    """Bidirectional transformer: every position sees every non-padding position."""

    def __init__(self, config: BERT4RecConfig, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.embedding = PositionalItemEmbedding(
            n_items + 2, config.hidden, config.max_len, config.dropout, pad=padding_token(n_items), normalize=True
        )
        self.blocks = transformer_blocks(
            config.hidden, config.heads, config.blocks, 4 * config.hidden, config.dropout, "gelu", norm_first=False
        )
        self.projection = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.GELU())
        self.output_bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, items: Tensor) -> Tensor:
        padding = items == padding_token(self.n_items)
        return self.blocks(self.embedding(items), src_key_padding_mask=padding)

    def logits(self, hidden: Tensor) -> Tensor:
        return self.projection(hidden) @ self.embedding.items.weight[: self.n_items].T + self.output_bias


class BERT4RecRecommender(SequentialRecommender[BERT4RecConfig]):
    """BERT4Rec under the evaluation protocol: ``BERT4RecRecommender(BERT4RecConfig(...))``."""

    name, config_type, network_type, objective_type = "bert4rec", BERT4RecConfig, BERT4Rec, Cloze
