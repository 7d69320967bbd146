"""The two towers as one network: the user tower (``UserTower``) and the pin tower (PinSAGE plus an id vector)."""

from __future__ import annotations

import dgl
import torch.nn.functional as F
from torch import Tensor, nn

from models.pinsage import PinFeatures, PinSage
from models.two_tower.config import TwoTowerConfig, sparse_tables
from models.two_tower.user_tower import UserTower


class TwoTower(UserTower):
    """The two towers; both return unit vectors of size ``config.dim``. The user tower's
    parameters keep their names, so ``models.served.user_tower`` reads them alone from a checkpoint."""

    def __init__(self, config: TwoTowerConfig, n_items: int) -> None:
        super().__init__(config, n_items)
        self.pin_tower = PinSage(config.pin_config)
        self.pin_ids: nn.Embedding | None = None
        if config.pin_ids:
            self.pin_ids = nn.Embedding(n_items, config.dim, sparse=sparse_tables(n_items))
            nn.init.zeros_(self.pin_ids.weight)

    def pins(self, neighbours: dgl.DGLGraph, features: PinFeatures, pins: Tensor) -> Tensor:
        """Unit vectors ``[n, dim]`` of distinct pin indices."""
        return self.with_ids(self.pin_tower.embed(neighbours, features, pins), pins)

    def with_ids(self, content: Tensor, pins: Tensor) -> Tensor:
        """PinSAGE vectors of ``pins`` plus their id vectors, normalized."""
        if self.pin_ids is None:
            return content
        return F.normalize(content + self.pin_ids(pins), dim=-1)

