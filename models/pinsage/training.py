"""Training PinSAGE on co-engaged pin pairs with the shared retrieval loss."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dgl
import numpy as np
import torch

from models.pinsage.features import PinFeatures
from models.pinsage.model import PinSage, sample_neighbours
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss


@dataclass
class TrainingReport:
    """Mean loss per epoch, validation score per epoch (if validated) and the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = 0
    n_pairs: int = 0


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


def train_pinsage(
    model: PinSage,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    pairs: np.ndarray,
    *,
    validation_score: Callable[[PinSage], float] | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainingReport:
    """Fit ``model`` in place on ``pairs`` over ``graph``; deterministic for ``config.seed``.

    Each query pin is scored against the batch's positives plus ``config.random_negatives``
    pins drawn uniformly from the pins in ``pairs`` (so pins kept out of training stay out),
    logQ-corrected by each positive's frequency in ``pairs``. Neighbourhoods are resampled
    every epoch. With ``validation_score`` (higher is better, called after each epoch) training
    stops after ``config.patience`` epochs without improvement and the best weights are kept.
    ``on_epoch(epoch, loss, score)`` gets the 1-based epoch, its mean loss and its validation
    score (NaN without ``validation_score``).
    """
    config = model.config
    if len(pairs) == 0:
        raise ValueError("no training pairs")
    pairs = np.asarray(pairs, dtype=np.int64)
    n_pins = features.n_pins
    in_training = np.bincount(pairs.ravel(), minlength=n_pins) > 0
    sampler = NegativeSampler(n_pins, weights=in_training.astype(np.float64))
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(pairs[:, 1], minlength=n_pins)))
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    report = TrainingReport(n_pairs=len(pairs))
    best_state, best_score, waited = None, -np.inf, 0
    optimizers = [
        torch.optim.SparseAdam(list(model.tokens.parameters()), lr=config.lr),
        torch.optim.Adam([p for name, p in model.named_parameters() if not name.startswith("tokens.")], lr=config.lr),
    ]
    for epoch in range(1, config.epochs + 1):
        model.train()
        neighbours = sample_neighbours(model, graph, seed=config.seed + epoch)
        total = 0.0
        for batch in np.array_split(rng.permutation(len(pairs)), max(1, len(pairs) // config.batch_size)):
            query_ids, positive_ids = (torch.from_numpy(column) for column in pairs[batch].T)
            random_ids, random_log_q = sampler.draw(config.random_negatives, generator)
            # Queries, positives and negatives are all pins: one forward pass over the distinct ones.
            pins, where = torch.cat([query_ids, positive_ids, random_ids]).unique(return_inverse=True)
            vectors = model.embed(neighbours, features, pins)[where]
            size = len(batch)
            loss = sampled_softmax_loss(
                vectors[:size],
                vectors[size : 2 * size],
                positive_log_q=log_q[positive_ids],
                random_negatives=vectors[2 * size :] if config.random_negatives else None,
                random_log_q=random_log_q if config.random_negatives else None,
                positive_ids=positive_ids,
                random_ids=random_ids if config.random_negatives else None,
                temperature=config.temperature,
                correct_sampling_bias=config.correct_sampling_bias,
            )
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            total += loss.item() * size
        report.train_loss.append(total / len(pairs))
        if validation_score is None:
            report.best_epoch = epoch
            if on_epoch is not None:
                on_epoch(epoch, report.train_loss[-1], float("nan"))
            continue
        report.validation.append(validation_score(model))
        if on_epoch is not None:
            on_epoch(epoch, report.train_loss[-1], report.validation[-1])
        if report.validation[-1] > best_score:
            best_state, best_score, waited = copy.deepcopy(model.state_dict()), report.validation[-1], 0
            report.best_epoch = epoch
        else:
            waited += 1
            if waited >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return report
