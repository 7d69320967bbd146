"""This process's part in data-parallel training (pure torch): which share of each step's batch it
trains on, the step network wrapped in ``DistributedDataParallel`` so gradients are averaged across
processes, its share of the validation users, and one validation score for all of them.

A process group must exist for ``world > 1`` (Ray Train sets one up: gloo on CPU).
``Shard()`` is one process alone: nothing is wrapped, split or sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Process ``rank`` of ``world`` training processes."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"need 0 <= rank < world, got rank {self.rank} of {self.world}")

    @property
    def leads(self) -> bool:
        """Whether this process validates, reports and checkpoints for all of them."""
        return self.rank == 0

    def wrap(self, network: nn.Module) -> nn.Module:
        """``network`` whose backward pass averages gradients across the processes."""
        if self.world == 1:
            return network
        return nn.parallel.DistributedDataParallel(network)

    def batches(self, batches: Sequence[Sequence[T]]) -> list[Sequence[T]]:
        """This process's part of each step's batch (every ``world``-th item from ``rank``), every
        process in the same order; a batch too small to give each process an item is skipped."""
        if self.world == 1:
            return list(batches)
        return [batch[self.rank :: self.world] for batch in batches if len(batch) >= self.world]

    def share(self, items: np.ndarray) -> np.ndarray:
        """This process's part of ``items`` (every ``world``-th from ``rank``): the parts of all
        processes are disjoint and cover ``items``."""
        return items[self.rank :: self.world]

    def total(self, value: float) -> float:
        """The sum of every process's ``value``, on every process."""
        if self.world == 1:
            return value
        summed = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(summed)
        return float(summed.item())

    def agree(self, score: float) -> float:
        """The leading process's ``score``, on every process (so that all stop at the same epoch)."""
        if self.world == 1:
            return score
        value = torch.tensor([score], dtype=torch.float64)
        torch.distributed.broadcast(value, src=0)
        return float(value.item())
