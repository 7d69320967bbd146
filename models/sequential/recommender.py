"""The trainer and ``Recommender`` wrapper all sequential baselines share: full-softmax cross
entropy over every item at every predicting position, early stopping on validation ndcg@10."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.memory import release_freed_memory
from models.leave_last_out import EvaluationSplit, NDCG_K, evaluate_recommender
from models.sequential.batching import IGNORE, length_buckets
from models.sequential.config import SequentialConfig
from models.sequential.objectives import Objective
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs

SCORING_BATCH = 128
ConfigT = TypeVar("ConfigT", bound=SequentialConfig)


class SequenceNetwork(nn.Module, ABC):
    """Maps left-padded item ids ``[b, T]`` to hidden states ``[b, T, hidden]``, and hidden
    states to a logit per item."""

    @abstractmethod
    def logits(self, hidden: Tensor) -> Tensor:
        """``[..., n_items]`` scores of every item for hidden states ``[..., hidden]``."""


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Torch seeded with ``seed`` and restricted to deterministic kernels inside; the caller's
    random state and determinism setting are restored after."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


class SequentialRecommender(Generic[ConfigT]):
    """The ``Recommender`` protocol around a ``SequenceNetwork``: a subclass names its config,
    network and objective types (each network and objective is built from the config and the
    item count); fitting, early stopping and scoring are here.

    ``history`` holds the training loss and validation ndcg@10 per epoch and the kept epoch.
    """

    name: str
    config_type: type[ConfigT]
    network_type: Callable[[ConfigT, int], SequenceNetwork]
    objective_type: Callable[[ConfigT, int], Objective]

    def __init__(self, config: ConfigT | None = None, on_epoch: EpochCallback | None = None) -> None:
        self.config = config if config is not None else self.config_type()
        self.on_epoch = on_epoch
        self.history = TrainingHistory()
        self.network: SequenceNetwork | None = None
        self.objective: Objective | None = None
        self.split: EvaluationSplit | None = None

    def fit(self, split: EvaluationSplit) -> None:
        """Train on ``split.train`` with AdamW, keeping the epoch of best validation ndcg@10 and
        stopping after ``patience`` epochs without one. Deterministic for ``config.seed``."""
        config = self.config
        self.split = split
        rng = np.random.default_rng(config.seed)
        objective = self.objective = self.objective_type(config, split.n_items)
        cut = (objective.training_window(np.asarray(items, dtype=np.int64)) for items in split.train)
        windows = [window for window in cut if window is not None]
        with seeded_torch(config.seed):
            network = self.network = self.network_type(config, split.n_items)
            optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            self.history = fit_epochs(
                network,
                lambda epoch: self._train_epoch(windows, optimizer, rng),
                epochs=config.epochs,
                validate=lambda: evaluate_recommender(self, split, "validation")[f"ndcg@{NDCG_K}"],
                patience=config.patience,
                on_epoch=self.on_epoch,
            )

    def _train_epoch(
        self, windows: Sequence[np.ndarray], optimizer: torch.optim.Optimizer, rng: np.random.Generator
    ) -> float:
        """One pass over the windows in shuffled length buckets; the mean loss per target."""
        network, objective = self._fitted()
        total, count = 0.0, 0
        for rows in length_buckets(np.array([len(window) for window in windows]), self.config.batch_size, rng):
            batch = objective.batch([windows[row] for row in rows], rng)
            predicting = batch.targets != IGNORE
            logits = network.logits(network(batch.inputs)[predicting])
            targets = int(predicting.sum())
            total += descend(F.cross_entropy(logits, batch.targets[predicting]), [optimizer]) * targets
            count += targets
        release_freed_memory()  # bucketed batches' tensors of many sizes: else 80 MB more an epoch, 8 GB a grid
        return total / count if count else math.nan

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]`` logits of each user's next item after ``split.history(user, stage)``."""
        network, objective = self._fitted()
        assert self.split is not None  # set with the network
        histories = [np.asarray(self.split.history(int(user), stage), dtype=np.int64) for user in users]
        lengths = np.minimum([len(history) for history in histories], self.config.max_len)
        out = np.empty((len(histories), self.split.n_items), dtype=np.float32)
        was_training = network.training
        network.eval()
        try:
            with torch.inference_mode():
                for rows in length_buckets(lengths, SCORING_BATCH):
                    inputs = objective.query([histories[row] for row in rows])
                    out[rows] = network.logits(network(inputs)[:, -1]).numpy()
        finally:
            network.train(was_training)
        return out

    def _fitted(self) -> tuple[SequenceNetwork, Objective]:
        if self.network is None or self.objective is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit first")
        return self.network, self.objective
