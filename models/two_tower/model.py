"""The two towers as one network (user: PinnerFormer plus feature vectors; pin: PinSAGE plus an
id vector), and the encoding of categorical user features into the vocabularies of its config."""

from __future__ import annotations

import dgl
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.pinnerformer import PinnerFormer
from models.pinsage import PinFeatures, PinSage
from models.two_tower.config import TwoTowerConfig


class TwoTower(nn.Module):
    """The two towers; both return unit vectors of size ``config.dim``."""

    def __init__(self, config: TwoTowerConfig, n_items: int) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.sequence = PinnerFormer(config.user_config, n_items)
        # Row 0 of each table is "unknown" and stays zero.
        self.user_features = nn.ModuleList(
            nn.Embedding(len(values) + 1, config.dim, padding_idx=0) for values in config.user_feature_values
        )
        for table in self.user_features:
            nn.init.normal_(table.weight, std=0.1)
            table.weight.data[0].zero_()
        self.pin_tower = PinSage(config.pin_config)
        self.pin_ids: nn.Embedding | None = None
        if config.pin_ids:
            self.pin_ids = nn.Embedding(n_items, config.dim)
            nn.init.zeros_(self.pin_ids.weight)

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

    def pins(self, neighbours: dgl.DGLGraph, features: PinFeatures, pins: Tensor) -> Tensor:
        """Unit vectors ``[n, dim]`` of distinct pin indices."""
        return self.with_ids(self.pin_tower.embed(neighbours, features, pins), pins)

    def with_ids(self, content: Tensor, pins: Tensor) -> Tensor:
        """PinSAGE vectors of ``pins`` plus their id vectors, normalized."""
        if self.pin_ids is None:
            return content
        return F.normalize(content + self.pin_ids(pins), dim=-1)


def user_feature_codes(frame: pd.DataFrame | None, config: TwoTowerConfig, n_users: int) -> np.ndarray:
    """``[n_users, n_features]`` int64 codes of ``frame``'s rows (one per user, columns
    ``config.user_feature_names``) in the config's vocabularies; 0 for unknown or missing."""
    codes = np.zeros((n_users, len(config.user_feature_names)), dtype=np.int64)
    if frame is None or not config.user_feature_names:
        return codes
    if len(frame) != n_users:
        raise ValueError(f"user features have {len(frame)} rows for {n_users} users")
    for column, (name, values) in enumerate(zip(config.user_feature_names, config.user_feature_values)):
        vocabulary = {value: code for code, value in enumerate(values, start=1)}
        codes[:, column] = [vocabulary.get(str(value), 0) for value in frame[name].tolist()]
    return codes

