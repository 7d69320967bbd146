"""Training PinSAGE on co-engaged pin pairs with the shared retrieval loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from models.data_parallel import Shard
from models.pinsage.features import PinFeatures
from models.pinsage.model import PinSage, sample_neighbours
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs, sparse_and_dense_adam


def co_engaged_pairs(sequences: Sequence[np.ndarray], window: int) -> np.ndarray:
    """``[n, 2]`` int64 (query pin, positive pin) pairs: every two pins at most ``window``
    apart in one sequence (a user's history in time order, a board's pins), both ways round;
    a pin paired with itself is dropped."""
    pairs = []
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int64)
        for gap in range(1, min(window, len(sequence) - 1) + 1):
            pairs.append(np.stack([sequence[:-gap], sequence[gap:]], axis=1))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    forward = np.concatenate(pairs)
    both = np.concatenate([forward, forward[:, ::-1]])
    return both[both[:, 0] != both[:, 1]]


class _Step(nn.Module):
    """One step's loss as a module, so that ``DistributedDataParallel`` sees its forward pass."""

    def __init__(self, model: PinSage, features: PinFeatures, sampler: NegativeSampler, log_q: Tensor) -> None:
        super().__init__()
        self.model, self.features, self.sampler, self.log_q = model, features, sampler, log_q

    def forward(self, pairs: np.ndarray, neighbours: dgl.DGLGraph, generator: torch.Generator) -> Tensor:
        """The shared loss of the (query, positive) ``pairs``."""
        config = self.model.config
        size = len(pairs)
        query_ids, positive_ids = (torch.from_numpy(column) for column in pairs.T)
        random_ids, random_log_q = self.sampler.draw(config.random_negatives, generator)
        # Queries, positives and negatives are all pins: one forward pass over the distinct ones.
        pins, where = torch.cat([query_ids, positive_ids, random_ids]).unique(return_inverse=True)
        vectors = self.model.embed(neighbours, self.features, pins)[where]
        return sampled_softmax_loss(
            vectors[:size],
            vectors[size : 2 * size],
            positive_log_q=self.log_q[positive_ids],
            random_negatives=vectors[2 * size :] if config.random_negatives else None,
            random_log_q=random_log_q if config.random_negatives else None,
            positive_ids=positive_ids,
            random_ids=random_ids if config.random_negatives else None,
            temperature=config.temperature,
            correct_sampling_bias=config.correct_sampling_bias,
        )


def train_pinsage(
    model: PinSage,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    pairs: np.ndarray,
    *,
    validation_score: Callable[[PinSage], float] | None = None,
    on_epoch: EpochCallback | None = None,
    shard: Shard = Shard(),
) -> TrainingHistory:
    """Fit ``model`` in place on ``pairs`` over ``graph``; deterministic for ``config.seed`` with one
    torch thread (parallel float sums make multi-threaded runs differ in the last digits).

    Each query pin is scored against the batch's positives plus ``config.random_negatives``
    pins drawn uniformly from the pins in ``pairs`` (so pins kept out of training stay out),
    logQ-corrected by each positive's frequency in ``pairs``. Neighbourhoods are resampled
    every epoch. Epochs run through ``models.training.fit_epochs``: with ``validation_score``
    (higher is better, called after each epoch) training stops after ``config.patience`` epochs
    without improvement and the best weights are kept; ``on_epoch(epoch, loss, score)`` reports
    each epoch (score NaN without ``validation_score``).

    With a ``shard`` of several processes, each trains on its share of every step's pairs and the
    gradients are averaged (DDP), so the steps are the same as alone; every process calls
    ``validation_score`` (which may split its users across them) and all take the leading process's.
    """
    config = model.config
    if len(pairs) == 0:
        raise ValueError("no training pairs")
    pairs = np.asarray(pairs, dtype=np.int64)
    n_pins = features.n_pins
    in_training = np.bincount(pairs.ravel(), minlength=n_pins) > 0
    sampler = NegativeSampler(n_pins, weights=in_training.astype(np.float64))
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(pairs[:, 1], minlength=n_pins)))
    step = shard.wrap(_Step(model, features, sampler, log_q))
    rng = np.random.default_rng(config.seed)  # the pairs' order: the same in every process
    generator = torch.Generator().manual_seed(config.seed)
    optimizers = sparse_and_dense_adam(model, config.lr)

    def train_epoch(epoch: int) -> float:
        neighbours = sample_neighbours(model, graph, seed=config.seed + epoch)
        total, count = 0.0, 0
        batches = np.array_split(rng.permutation(len(pairs)), max(1, len(pairs) // config.batch_size))
        for batch in shard.batches(batches):
            total += descend(step(pairs[batch], neighbours, generator), optimizers) * len(batch)
            count += len(batch)
        return total / max(count, 1)

    def agreed_validation(score: Callable[[PinSage], float]) -> Callable[[], float]:
        return lambda: shard.agree(score(model))

    validate = None if validation_score is None else agreed_validation(validation_score)
    return fit_epochs(
        model, train_epoch, epochs=config.epochs, validate=validate, patience=config.patience, on_epoch=on_epoch
    )
