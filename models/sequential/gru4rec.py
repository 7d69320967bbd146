"""GRU4Rec (Hidasi et al., "Session-based Recommendations with Recurrent Neural Networks", ICLR
2016): item embeddings into stacked GRU layers, dropout, and a feed-forward output layer with a
score per item; trained here with full-softmax cross entropy at every position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.sequential.batching import padding_token
from models.sequential.config import SequentialConfig
from models.sequential.objectives import NextItem
from models.sequential.recommender import SequenceNetwork, SequentialRecommender


@dataclass(frozen=True)
class GRU4RecConfig(SequentialConfig):
    layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layers < 1:
            raise ValueError(f"need layers >= 1: {self}")


def roll_rows(values: Tensor, shifts: Tensor) -> Tensor:
    """Row r of ``values`` ``[b, T, ...]`` rotated left by ``shifts[r]`` positions."""
    length = values.shape[1]
    index = (torch.arange(length)[None, :] + shifts[:, None]) % length
    return values.gather(1, index.view(*index.shape, *[1] * (values.ndim - 2)).expand_as(values))


class GRU4Rec(SequenceNetwork):
    """Recurrent next-item model; padding is skipped, so a state starts at the first real item."""

    def __init__(self, config: GRU4RecConfig, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.items = nn.Embedding(n_items + 1, config.hidden, padding_idx=padding_token(n_items))
        self.input_dropout = nn.Dropout(config.dropout)
        between_layers = config.dropout if config.layers > 1 else 0.0
        self.gru = nn.GRU(config.hidden, config.hidden, config.layers, batch_first=True, dropout=between_layers)
        self.output_dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden, n_items)

    def forward(self, items: Tensor) -> Tensor:
        lengths = (items != padding_token(self.n_items)).sum(dim=1)
        padding = items.shape[1] - lengths
        # Packing wants the padding on the right: rotate it there and the outputs back.
        embedded = self.input_dropout(roll_rows(self.items(items), padding))
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=items.shape[1])
        return self.output_dropout(roll_rows(states, -padding))

    def logits(self, hidden: Tensor) -> Tensor:
        return self.output(hidden)


class GRU4RecRecommender(SequentialRecommender[GRU4RecConfig]):
    """GRU4Rec under the evaluation protocol: ``GRU4RecRecommender(GRU4RecConfig(...))``."""

    name, config_type, network_type, objective_type = "gru4rec", GRU4RecConfig, GRU4Rec, NextItem
