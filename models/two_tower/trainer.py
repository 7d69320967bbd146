"""Joint training of the two towers: windows of users' histories are the queries, their targets
the positives, embedded by the pin tower in the same step and scored with the shared loss."""

from __future__ import annotations

from collections.abc import Callable

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from models.data_parallel import Shard
from models.pinnerformer import ActionSequences, objective_targets, pad_sequences, training_windows
from models.pinsage import PinFeatures
from models.pinsage.model import sample_neighbours
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs, sparse_and_dense_adam
from models.two_tower.model import TwoTower


def _step_batch(
    model: TwoTower,
    train: ActionSequences,
    codes: Tensor,
    windows: list[tuple[int, int, int]],
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """Query vectors of the predicting positions of ``windows`` and their target item ids."""
    config = model.config
    positions, targets = [], []
    for row, (user, start, end) in enumerate(windows):
        at, where = objective_targets(config.objective, config.window, len(train.items[user]), start, end, rng)
        positions.append(np.stack([np.full(len(at), row), at]))
        targets.append(train.items[user][where])
    items, gaps = pad_sequences(
        model.sequence,
        [train.items[u][s:e] for u, s, e in windows],
        [train.gaps[u][s:e] for u, s, e in windows],
    )
    users = torch.as_tensor([user for user, _, _ in windows])
    rows, at = np.concatenate(positions, axis=1)
    queries = model.users(items, gaps, codes[users])[rows, at]
    return queries, torch.from_numpy(np.concatenate(targets))


class _Step(nn.Module):
    """One step's loss as a module, so that ``DistributedDataParallel`` sees its forward pass."""

    def __init__(
        self, model: TwoTower, train: ActionSequences, codes: Tensor, features: PinFeatures, log_q: Tensor
    ) -> None:
        super().__init__()
        self.model = model
        self.train_sequences, self.codes, self.features, self.log_q = train, codes, features, log_q
        self.sampler = NegativeSampler(model.n_items)

    def forward(
        self,
        windows: list[tuple[int, int, int]],
        neighbours: dgl.DGLGraph,
        rng: np.random.Generator,
        generator: torch.Generator,
    ) -> tuple[Tensor, int]:
        """The shared loss of ``windows``' predicting positions and how many positives it has."""
        config = self.model.config
        queries, positive_ids = _step_batch(self.model, self.train_sequences, self.codes, windows, rng)
        random_ids, random_log_q = self.sampler.draw(config.random_negatives, generator)
        pins, where = torch.cat([positive_ids, random_ids]).unique(return_inverse=True)
        vectors = self.model.pins(neighbours, self.features, pins)[where]
        loss = sampled_softmax_loss(
            queries,
            vectors[: len(positive_ids)],
            positive_log_q=self.log_q[positive_ids],
            random_negatives=vectors[len(positive_ids) :],
            random_log_q=random_log_q,
            positive_ids=positive_ids,
            random_ids=random_ids,
            temperature=config.temperature,
        )
        return loss, len(positive_ids)


def train_two_tower(
    model: TwoTower,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    train: ActionSequences,
    codes: Tensor,
    *,
    validate: Callable[[], float] | None = None,
    on_epoch: EpochCallback | None = None,
    shard: Shard = Shard(),
) -> TrainingHistory:
    """Fit ``model`` in place on users' training sequences; deterministic for ``config.seed``.

    Each step takes ``batch_size`` windows: their predicting positions are the queries, their
    targets the positives; the batch's positives plus ``random_negatives`` items drawn uniformly
    are embedded by the pin tower (neighbourhoods resampled every epoch) and scored with the
    shared loss, logQ-corrected by each item's frequency among the training actions.

    With a ``shard`` of several processes, each trains on its share of every step's windows and
    the gradients are averaged (DDP), so the steps are the same as alone; every process calls
    ``validate`` (which may split its users across them) and all take the leading process's score.
    """
    config = model.config
    stream = np.concatenate([np.empty(0, np.int64), *train.items])
    if len(stream) == 0:
        raise ValueError("no training actions")
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(stream, minlength=model.n_items)))
    step = shard.wrap(_Step(model, train, codes, features, log_q))
    rng = np.random.default_rng(config.seed)  # windows and their order: the same in every process
    # A process's targets draw from its own share; alone, from the one generator as always.
    step_rng = rng if shard.world == 1 else np.random.default_rng([config.seed, shard.rank])
    generator = torch.Generator().manual_seed(config.seed)
    optimizers = sparse_and_dense_adam(model, config.lr)  # large catalogues: only the pin rows a step reads

    def train_epoch(epoch: int) -> float:
        neighbours = sample_neighbours(model.pin_tower, graph, seed=config.seed + epoch)
        windows = training_windows(train, config.max_len, rng)
        order = rng.permutation(len(windows))
        batches = [order[start : start + config.batch_size] for start in range(0, len(order), config.batch_size)]
        total, count = 0.0, 0
        for batch in shard.batches(batches):
            loss, positives = step([windows[w] for w in batch], neighbours, step_rng, generator)
            total += descend(loss, optimizers) * positives
            count += positives
        return total / max(count, 1)

    def agreed_validation() -> float:
        return shard.agree(validate())

    return fit_epochs(
        model,
        train_epoch,
        epochs=config.epochs,
        validate=None if validate is None else agreed_validation,
        patience=config.patience,
        on_epoch=on_epoch,
    )
