"""SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018), trained with
full-softmax cross entropy at every position as in gSASRec (Petrov & Macdonald, RecSys 2023)
rather than the paper's one sampled negative with binary cross entropy.

Causal self-attention blocks in the paper's form (LayerNorm before each sublayer, dropout,
residual; point-wise feed-forward of width ``hidden`` with ReLU), learned positions, a final
LayerNorm, and the item embedding reused as the output layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.sequential.batching import padding_token
from models.sequential.config import SequentialConfig
from models.sequential.objectives import NextItem
from models.sequential.recommender import SequenceNetwork, SequentialRecommender
from models.sequential.transformer import PositionalItemEmbedding, transformer_blocks


@dataclass(frozen=True)
class SASRecConfig(SequentialConfig):
    blocks: int = 2
    heads: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.blocks, self.heads) < 1 or self.hidden % self.heads:
            raise ValueError(f"need blocks, heads >= 1 and hidden divisible by heads: {self}")


def causal_attention_mask(padded: Tensor, heads: int) -> Tensor:
    """``[b * heads, T, T]``, True where a query may not look: at later positions, and at padding
    (a padding query still sees itself, so no row is all blocked)."""
    length = padded.shape[1]
    later = torch.ones(length, length, dtype=torch.bool).triu(1)
    padding_key = padded[:, None, :] & ~torch.eye(length, dtype=torch.bool)
    return (later | padding_key).repeat_interleave(heads, dim=0)


class SASRec(SequenceNetwork):
    """Causal transformer: the output at position t depends on items 0..t only."""

    def __init__(self, config: SASRecConfig, n_items: int) -> None:
        super().__init__()
        self.n_items, self.heads = n_items, config.heads
        self.embedding = PositionalItemEmbedding(
            n_items + 1, config.hidden, config.max_len, config.dropout, pad=padding_token(n_items), normalize=False
        )
        self.blocks = transformer_blocks(
            config.hidden, config.heads, config.blocks, config.hidden, config.dropout, "relu", norm_first=True
        )
        self.norm = nn.LayerNorm(config.hidden)

    def forward(self, items: Tensor) -> Tensor:
        mask = causal_attention_mask(items == padding_token(self.n_items), self.heads)
        return self.norm(self.blocks(self.embedding(items), mask=mask))

    def logits(self, hidden: Tensor) -> Tensor:
        return hidden @ self.embedding.items.weight[: self.n_items].T


class SASRecRecommender(SequentialRecommender[SASRecConfig]):
    """SASRec under the evaluation protocol: ``SASRecRecommender(SASRecConfig(...))``."""

    name, config_type, network_type, objective_type = "sasrec", SASRecConfig, SASRec, NextItem
