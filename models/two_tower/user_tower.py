"""The two-tower's user tower on its own: PinnerFormer's transformer over the user's actions plus
a learned vector per categorical feature value. Free of DGL; the service runs it in numpy
(``models.served.user_tower``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.pinnerformer import PinnerFormer, PinnerFormerRecommender
from models.served.layers import unit_rows
from models.two_tower.config import TwoTowerConfig, sparse_tables


class UserTower(nn.Module):
    """Unit user vectors of size ``config.dim`` from action sequences and feature codes."""

    def __init__(self, config: TwoTowerConfig, n_items: int) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.sequence = PinnerFormer(config.user_config, n_items, sparse_items=sparse_tables(n_items))
        # Row 0 of each table is "unknown" and stays zero.
        self.user_features = nn.ModuleList(
            nn.Embedding(len(values) + 1, config.dim, padding_idx=0) for values in config.user_feature_values
        )
        for table in self.user_features:
            nn.init.normal_(table.weight, std=0.1)
            table.weight.data[0].zero_()

    def user_feature_vectors(self, codes: Tensor) -> Tensor:
        """``[b, dim]``: the sum of each user's feature vectors; codes ``[b, n_features]``."""
        total = torch.zeros(codes.shape[0], self.config.dim)
        for column, table in enumerate(self.user_features):
            total = total + table(codes[:, column])
        return total

    def users(self, items: Tensor, gaps: Tensor, codes: Tensor) -> Tensor:
        """Unit user vectors ``[b, L, dim]`` at each position of right-padded action sequences."""
        sequence = self.sequence(items, gaps)
        return F.normalize(sequence + self.user_feature_vectors(codes)[:, None, :], dim=-1)

    def embed(self, items: Sequence[np.ndarray], times: Sequence[np.ndarray], codes: np.ndarray | None) -> np.ndarray:
        """Unit user vectors float32 ``[len(items), dim]`` from each user's item indices and
        action times (unix seconds) in time order (only the last ``max_len`` count) and their
        ``user_feature_codes`` rows; a user with neither actions nor known features gets zeros."""
        sequence = PinnerFormerRecommender(self.config.user_config)
        sequence.model = self.sequence  # its batched inference over the transformer
        vectors = sequence.embed_users(items, times)
        if codes is not None and len(self.user_features):
            with torch.inference_mode():
                vectors = vectors + self.user_feature_vectors(torch.as_tensor(codes, dtype=torch.int64)).numpy()
        return unit_rows(vectors)
