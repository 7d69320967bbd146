"""The pieces SASRec and BERT4Rec share: item plus learned position embeddings, and a stack of
transformer blocks."""

from __future__ import annotations

from torch import Tensor, nn


class PositionalItemEmbedding(nn.Module):
    """Item vector plus a learned vector per position, then (optionally LayerNorm and) dropout.

    Positions count from the right: with left padding the most recent item is always position
    ``max_len - 1``, however long the batch, so a short batch sees the positions a full one would.
    """

    def __init__(self, n_tokens: int, hidden: int, max_len: int, dropout: float, pad: int, normalize: bool) -> None:
        super().__init__()
        self.max_len = max_len
        self.items = nn.Embedding(n_tokens, hidden, padding_idx=pad)
        self.positions = nn.Embedding(max_len, hidden)
        # Small starts, as in BERT: N(0, 1) rows would dominate the LayerNorm'd hidden states they are scored against.
        for table in (self.items, self.positions):
            nn.init.normal_(table.weight, std=0.02)
        self.items.weight.data[pad] = 0.0
        self.norm = nn.LayerNorm(hidden) if normalize else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, items: Tensor) -> Tensor:
        """``[b, T, hidden]`` for left-padded ids ``[b, T]``, T <= ``max_len``."""
        length = items.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence of {length} is longer than max_len {self.max_len}")
        return self.dropout(self.norm(self.items(items) + self.positions.weight[self.max_len - length :]))


def transformer_blocks(
    hidden: int, heads: int, blocks: int, feedforward: int, dropout: float, activation: str, norm_first: bool
) -> nn.TransformerEncoder:
    """``blocks`` self-attention blocks (attention, point-wise feed-forward, residuals, LayerNorm
    before each sublayer with ``norm_first``, after the residual without), batch first."""
    layer = nn.TransformerEncoderLayer(
        hidden, heads, feedforward, dropout, activation=activation, batch_first=True, norm_first=norm_first
    )
    return nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
