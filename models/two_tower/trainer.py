"""Joint training of the two towers: windows of users' histories are the queries, their targets
the positives, embedded by the pin tower in the same step and scored with the shared loss."""

from __future__ import annotations

from collections.abc import Callable

import dgl
import numpy as np
import torch
from torch import Tensor

from models.pinnerformer import ActionSequences, objective_targets, pad_sequences, training_windows
from models.pinsage import PinFeatures
from models.pinsage.model import sample_neighbours
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs
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


def train_two_tower(
    model: TwoTower,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    train: ActionSequences,
    codes: Tensor,
    *,
    validate: Callable[[], float] | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainingHistory:
    """Fit ``model`` in place on users' training sequences; deterministic for ``config.seed``.

    Each step takes ``batch_size`` windows: their predicting positions are the queries, their
    targets the positives; the batch's positives plus ``random_negatives`` items drawn uniformly
    are embedded by the pin tower (neighbourhoods resampled every epoch) and scored with the
    shared loss, logQ-corrected by each item's frequency among the training actions.
    """
    config = model.config
    stream = np.concatenate([np.empty(0, np.int64), *train.items])
    if len(stream) == 0:
        raise ValueError("no training actions")
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(stream, minlength=model.n_items)))
    sampler = NegativeSampler(model.n_items)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizers = [
        torch.optim.SparseAdam(list(model.pin_tower.tokens.parameters()), lr=config.lr),
        torch.optim.Adam(
            [p for n, p in model.named_parameters() if not n.startswith("pin_tower.tokens.")],
            lr=config.lr,
        ),
    ]

    def train_epoch(epoch: int) -> float:
        neighbours = sample_neighbours(model.pin_tower, graph, seed=config.seed + epoch)
        windows = training_windows(train, config.max_len, rng)
        order = rng.permutation(len(windows))
        total, count = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = [windows[w] for w in order[start : start + config.batch_size]]
            queries, positive_ids = _step_batch(model, train, codes, batch, rng)
            random_ids, random_log_q = sampler.draw(config.random_negatives, generator)
            pins, where = torch.cat([positive_ids, random_ids]).unique(return_inverse=True)
            vectors = model.pins(neighbours, features, pins)[where]
            loss = sampled_softmax_loss(
                queries,
                vectors[: len(positive_ids)],
                positive_log_q=log_q[positive_ids],
                random_negatives=vectors[len(positive_ids) :],
                random_log_q=random_log_q,
                positive_ids=positive_ids,
                random_ids=random_ids,
                temperature=config.temperature,
            )
            total += descend(loss, optimizers) * len(positive_ids)
            count += len(positive_ids)
        return total / max(count, 1)

    return fit_epochs(
        model,
        train_epoch,
        epochs=config.epochs,
        validate=validate,
        patience=config.patience,
        on_epoch=on_epoch,
    )

